import { describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { silentLogger } from "../../../agent/log.js";
import { icmp } from "../../../agent/probe/icmp.js";
import type { ProbeContext, ProbeSpec, Sample } from "../../../agent/probe/prober.js";

const spec: ProbeSpec = {
  method: "icmp",
  host: "127.0.0.1",
  count: 5,
  interval_ms: 200,
  schedule: "periodic",
  packet_size_bytes: 64,
  dscp: 0,
  loss_timeout_ms: 1000,
};

function context(signal: AbortSignal, seen: Sample[]): ProbeContext {
  return {
    signal,
    clock: systemClock,
    log: silentLogger(),
    clockSync: { synced: false, source: "unknown" },
    onSample: (s) => seen.push(s),
  };
}

describe("icmp prober against the real ping binary", () => {
  it("gets 5 replies from 127.0.0.1 with positive RTTs, reported live", async () => {
    const seen: Sample[] = [];
    const before = Date.now();
    const samples = await icmp(spec, context(new AbortController().signal, seen));
    expect(samples.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(samples.map((s) => s.arrival)).toEqual([0, 1, 2, 3, 4]);
    for (const s of samples) {
      expect(s.rtt_ms).toBeGreaterThan(0);
      expect(s.sent_at).toBeGreaterThanOrEqual(before);
    }
    // Every sample was handed to onSample as its reply line arrived.
    expect(seen.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("pings ::1 over IPv6", async () => {
    const samples = await icmp({ ...spec, host: "::1", count: 2 }, context(new AbortController().signal, []));
    expect(samples.filter((s) => s.rtt_ms !== null).length).toBe(2);
  });

  it("stops ping on abort and keeps what was sent", async () => {
    const controller = new AbortController();
    // Abort once two replies were seen, not after a fixed 700 ms: a loaded host can take that long just to
    // start ping, and the abort would then find nothing sent.
    const seen: Sample[] = [];
    const run = icmp(
      { ...spec, count: 100 },
      {
        ...context(controller.signal, seen),
        onSample: (s) => {
          seen.push(s);
          if (seen.length === 2) controller.abort();
        },
      },
    );
    const samples = await run;
    // Aborted after 2 of 100 at one packet per 200 ms: far fewer than 100, all accounted for in order.
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples.length).toBeLessThan(100);
    expect(samples.map((s) => s.seq)).toEqual(samples.map((_, i) => i + 1));
  });
});
