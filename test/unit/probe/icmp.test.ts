import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ProbeFaultError } from "../../../agent/errors.js";
import { QosProbeError } from "../../../agent/errors.js";
import { pingFailure, planPing } from "../../../agent/probe/icmp.js";
import { parsePingOutput } from "../../../agent/probe/icmp-parse.js";
import type { ProbeSpec } from "../../../agent/probe/prober.js";

const base: ProbeSpec = {
  method: "icmp",
  host: "127.0.0.1",
  count: 5,
  interval_ms: 200,
  schedule: "periodic",
  packet_size_bytes: 64,
  dscp: 46,
  loss_timeout_ms: 3000,
};
const signal = new AbortController().signal;

async function setupError(spec: ProbeSpec): Promise<QosProbeError> {
  const err = await planPing(spec, signal).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QosProbeError);
  return err as QosProbeError;
}

describe("planPing", () => {
  it("builds ping arguments from the spec for IPv4", async () => {
    const plan = await planPing(base, signal);
    // payload = 64 − 20 (IPv4) − 8 (ICMP) = 36; TOS = 46 << 2 = 184; 200 ms = 0.2 s; 3000 ms = 3 s
    expect(plan).toEqual({
      address: "127.0.0.1",
      family: 4,
      payload_bytes: 36,
      args: ["-n", "-D", "-O", "-4", "-c", "5", "-i", "0.2", "-s", "36", "-W", "3", "-Q", "184", "127.0.0.1"],
    });
  });

  it("subtracts the 48-byte IPv6 + ICMPv6 header for IPv6", async () => {
    const plan = await planPing({ ...base, host: "::1", packet_size_bytes: 100, dscp: 0 }, signal);
    // 100 − 40 − 8 = 52
    expect(plan.family).toBe(6);
    expect(plan.payload_bytes).toBe(52);
    expect(plan.args).toContain("-6");
  });

  it("resolves a name once and pings the address", async () => {
    const plan = await planPing({ ...base, host: "localhost", family: 4 }, signal);
    expect(plan.address).toBe("127.0.0.1");
    expect(plan.args.at(-1)).toBe("127.0.0.1");
  });

  it("refuses packet sizes too small for ping to time the reply", async () => {
    // IPv4 minimum = 16 + 28 = 44 bytes
    const err = await setupError({ ...base, packet_size_bytes: 43 });
    expect(err.code).toBe("PROBE_SETUP");
    expect(err.message).toBe("packet_size_bytes 43 does not fit an IPv4 ICMP echo (44..65535)");
  });

  it("refuses a Poisson schedule, a family mismatch and counts past 16-bit sequence numbers", async () => {
    expect((await setupError({ ...base, schedule: "poisson" })).code).toBe("PROBE_SETUP");
    expect((await setupError({ ...base, family: 6 })).code).toBe("PROBE_TARGET");
    expect((await setupError({ ...base, count: 65_536 })).message).toBe(
      "ICMP count must be 1..65535, got 65536",
    );
  });
});

describe("pingFailure", () => {
  const fixture = (name: string) =>
    parsePingOutput(readFileSync(new URL(`../../fixtures/ping/${name}`, import.meta.url), "utf8")).failure ??
    "";

  it("explains a too-short interval with the limit ping reported", () => {
    const err = pingFailure(fixture("interval-too-short.txt"), { host: "127.0.0.1", interval_ms: 1 });
    expect(err.code).toBe("PROBE_SETUP");
    expect(err.message).toBe("ICMP interval 1 ms is below the 2 ms this ping allows a non-root user");
    expect(err.hint).toBe("raise interval_ms to at least 2, or run the agent as root");
  });

  it("calls an unknown host a fault of the measurement (NAME_UNRESOLVABLE), not loss", () => {
    const err = pingFailure(fixture("unknown-host.txt"), { host: "no-such-host.invalid", interval_ms: 200 });
    expect(err.code).toBe("PROBE_FAULT");
    expect((err as ProbeFaultError).faultCode).toBe("NAME_UNRESOLVABLE");
    expect(err.message).toBe(
      "cannot resolve no-such-host.invalid: no-such-host.invalid: Name or service not known",
    );
  });
});
