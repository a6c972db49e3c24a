import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { QosProbeError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import type { ProbeContext, ProbeSpec } from "../../../agent/probe/prober.js";
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
    // Let the server's accept callbacks run, then count: one accepted connection per sample.
    await new Promise((r) => setTimeout(r, 50));
    expect(v4.accepted() - before).toBe(5);
  });

  it("connects over IPv6", async () => {
    const samples = await tcp(spec({ host: "::1", port: v6.port, count: 2 }), ctx);
    expect(samples.filter((s) => s.rtt_ms !== null).length).toBe(2);
  });

  it("counts refused connections to a closed port as lost", async () => {
    const samples = await tcp(spec({ port: await closedPort(), count: 3 }), ctx);
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [0, null],
      [1, null],
      [2, null],
    ]);
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
