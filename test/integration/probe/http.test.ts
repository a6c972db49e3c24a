import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { QosProbeError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import { http } from "../../../agent/probe/http.js";
import type { ProbeContext, ProbeFacts, ProbeSpec, Sample } from "../../../agent/probe/prober.js";
import { VERSION } from "../../../agent/version.js";

function context(seen: Sample[] = []): ProbeContext {
  return {
    signal: new AbortController().signal,
    clock: systemClock,
    log: silentLogger(),
    clockSync: { synced: false, source: "unknown" },
    onSample: (s) => seen.push(s),
  };
}

describe("http prober on loopback", () => {
  let server: Server;
  let base: string;
  const requests: { userAgent: string | undefined; clientPort: number | undefined }[] = [];
  const slowTimers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ userAgent: req.headers["user-agent"], clientPort: req.socket.remotePort });
      if (req.url === "/missing") {
        res.writeHead(404).end("no");
      } else if (req.url === "/moved") {
        res.writeHead(302, { location: "/" }).end();
      } else if (req.url === "/slow") {
        // Headers only after 3 s: far past the test's loss timeout.
        const t = setTimeout(() => res.writeHead(200).end("late"), 3000);
        slowTimers.add(t);
      } else {
        res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(200_000));
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });

  afterAll(async () => {
    for (const t of slowTimers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const spec = (path: string, over: Partial<ProbeSpec> = {}): ProbeSpec => ({
    method: "http",
    host: "127.0.0.1",
    url: `${base}${path}`,
    count: 4,
    interval_ms: 50,
    schedule: "periodic",
    packet_size_bytes: 64,
    dscp: 0,
    loss_timeout_ms: 2000,
    ...over,
  });

  it("times response headers of 4 requests, each on its own connection", async () => {
    requests.length = 0;
    const seen: Sample[] = [];
    const samples = await http(spec("/"), context(seen));
    expect(samples.map((s) => s.seq)).toEqual([0, 1, 2, 3]);
    for (const s of samples) expect(s.rtt_ms).toBeGreaterThan(0);
    expect(seen.length).toBe(4);
    expect(requests.length).toBe(4);
    expect(requests[0]?.userAgent).toBe(`qos-probe/${VERSION}`);
    // Four distinct client ports: no connection was reused.
    expect(new Set(requests.map((r) => r.clientPort)).size).toBe(4);
  });

  it("counts a 404 as lost and a 302 as answered", async () => {
    const missing = await http(spec("/missing", { count: 2 }), context());
    expect(missing.map((s) => s.rtt_ms)).toEqual([null, null]);
    const moved = await http(spec("/moved", { count: 2 }), context());
    expect(moved.every((s) => s.rtt_ms !== null && s.rtt_ms > 0)).toBe(true);
  });

  it("counts headers later than the loss timeout as lost", async () => {
    const samples = await http(spec("/slow", { count: 2, loss_timeout_ms: 300 }), context());
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [0, null],
      [1, null],
    ]);
  });

  it("calls a refused connection a fault (TARGET_REFUSED) and refuses non-http URLs", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const address = closed.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await new Promise((r) => closed.close(r));
    const facts: ProbeFacts = { flags: [] };
    const samples = await http(spec("", { url: `http://127.0.0.1:${port}/`, count: 2 }), {
      ...context(),
      facts,
    });
    expect(samples.map((s) => s.rtt_ms)).toEqual([null, null]);
    expect(facts).toMatchObject({ address: "127.0.0.1", family: 4, faulted: 2 });
    expect(facts.fault?.code).toBe("TARGET_REFUSED");

    const err = await http(spec("", { url: "ftp://127.0.0.1/" }), context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QosProbeError);
    expect((err as QosProbeError).code).toBe("PROBE_TARGET");
  });

  it("calls TLS that fails (https:// to a plain HTTP server) a fault (TLS_ERROR)", async () => {
    const facts: ProbeFacts = { flags: [] };
    const samples = await http(spec("", { url: base.replace("http:", "https:"), count: 1 }), {
      ...context(),
      facts,
    });
    expect(samples.map((s) => s.rtt_ms)).toEqual([null]);
    expect(facts.fault?.code).toBe("TLS_ERROR");
  });
});
