import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { ProbeFaultError, QosProbeError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import type { ProbeContext, ProbeFacts, ProbeSpec } from "../../../agent/probe/prober.js";
import { runProbe } from "../../../agent/probe/runner.js";
import { tcp } from "../../../agent/probe/tcp.js";

const ctx: ProbeContext = {
  signal: new AbortController().signal,
  clock: systemClock,
  log: silentLogger(),
  clockSync: { synced: false, source: "unknown" },
};

function listen(host: string): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("close", () => {
    for (const s of sockets) s.destroy();
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({ server, port, accepted: () => accepted });
    });
  });
}

/** A port that was just free: bind, note it, close. Nothing listens there for the test. */
async function closedPort(): Promise<number> {
  const { server, port } = await listen("127.0.0.1");
  await new Promise((r) => server.close(r));
  return port;
}

describe("tcp prober on loopback", () => {
  let v4: Awaited<ReturnType<typeof listen>>;
  let v6: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    v4 = await listen("127.0.0.1");
    v6 = await listen("::1");
  });
  afterAll(async () => {
    await new Promise((r) => v4.server.close(r));
    await new Promise((r) => v6.server.close(r));
  });

  const spec = (over: Partial<ProbeSpec>): ProbeSpec => ({
    method: "tcp",
    host: "127.0.0.1",
    port: v4.port,
    count: 5,
    interval_ms: 50,
    schedule: "periodic",
    packet_size_bytes: 64,
    dscp: 0,
    loss_timeout_ms: 1000,
    ...over,
  });

  it("times 5 handshakes against a listening server", async () => {
    const before = v4.accepted();
    const samples = await tcp(spec({}), ctx);
    expect(samples.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
    for (const s of samples) expect(s.rtt_ms).toBeGreaterThan(0);
    // The server's accept callbacks run a loop turn or more after the client's connect completed (on a
    // loaded host, later): wait for them (bounded), then count: one accepted connection per sample.
    const until = Date.now() + 5_000;
    while (v4.accepted() - before < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(v4.accepted() - before).toBe(5);
  });

  it("connects over IPv6", async () => {
    const samples = await tcp(spec({ host: "::1", port: v6.port, count: 2 }), ctx);
    expect(samples.filter((s) => s.rtt_ms !== null).length).toBe(2);
  });

  it("calls refused connections to a closed port a fault (TARGET_REFUSED), not path loss", async () => {
    const port = await closedPort();
    const facts: ProbeFacts = { flags: [] };
    const samples = await tcp(spec({ port, count: 3 }), { ...ctx, facts });
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [0, null],
      [1, null],
      [2, null],
    ]);
    expect(facts).toMatchObject({ address: "127.0.0.1", family: 4, faulted: 3 });
    expect(facts.fault?.code).toBe("TARGET_REFUSED");
    // Through the runner: status fault with the code, nothing judged, the address recorded.
    const r = await runProbe(
      tcp,
      {
        test_id: "t",
        target: `tcp://127.0.0.1:${port}`,
        spec: spec({ port, count: 2 }),
        profile: "internet-3.2.2",
        diagnostic: true,
        agent: { site: "s", operator: "o", province: "110000", version: "0" },
      },
      { clock: systemClock, log: silentLogger(), clockSync: ctx.clockSync },
    );
    expect(r.status).toBe("fault");
    expect(r.error?.code).toBe("TARGET_REFUSED");
    expect(r.test).toMatchObject({ address: "127.0.0.1", family: 4 });
    expect(r.verdicts.loss).toBe("not-judged");
  });

  it("records the family it measured, and refuses a literal of the other family", async () => {
    // (This machine's /etc/hosts has no IPv6 name for localhost, so literals stand in for a name.)
    const facts: ProbeFacts = { flags: [] };
    const samples = await tcp(spec({ host: "::1", family: 6, port: v6.port, count: 1 }), { ...ctx, facts });
    expect(samples[0]?.rtt_ms).not.toBeNull();
    expect(facts).toMatchObject({ address: "::1", family: 6 });
    const wrong = await tcp(spec({ family: 6, count: 1 }), ctx).catch((e: unknown) => e);
    expect((wrong as QosProbeError).message).toBe("127.0.0.1 is an IPv4 address but family is 6");
  });

  it("calls a name that does not resolve a fault (NAME_UNRESOLVABLE)", async () => {
    const err = await tcp(spec({ host: "no-such-host.invalid", count: 1 }), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProbeFaultError);
    expect((err as ProbeFaultError).faultCode).toBe("NAME_UNRESOLVABLE");
  });

  it("refuses a DSCP it cannot set and a missing port", async () => {
    const dscp = await tcp(spec({ dscp: 46 }), ctx).catch((e: unknown) => e);
    expect(dscp).toBeInstanceOf(QosProbeError);
    expect((dscp as QosProbeError).code).toBe("PROBE_SETUP");
    const { port: _omit, ...noPort } = spec({});
    const missing = await tcp(noPort, ctx).catch((e: unknown) => e);
    expect((missing as QosProbeError).code).toBe("PROBE_TARGET");
  });
});
