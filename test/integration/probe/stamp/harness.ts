import dgram from "node:dgram";
import { systemClock } from "../../../../agent/clock.js";
import { silentLogger } from "../../../../agent/log.js";
import type { ProbeContext, ProbeSpec, Sample } from "../../../../agent/probe/prober.js";

/** Shared set-up for the STAMP loopback tests: a spec, a context, and raw UDP peers. */

export function probeSpec(port: number, overrides: Partial<ProbeSpec> = {}): ProbeSpec {
  return {
    method: "stamp",
    host: "127.0.0.1",
    port,
    count: 5,
    interval_ms: 20,
    schedule: "periodic",
    packet_size_bytes: 160, // fits both modes over both families (authenticated IPv6: 160 at least)
    dscp: 0,
    loss_timeout_ms: 500,
    ...overrides,
  };
}

export function probeContext(overrides: Partial<ProbeContext> = {}): ProbeContext {
  return {
    signal: new AbortController().signal,
    clock: systemClock,
    log: silentLogger(),
    clockSync: { synced: false, source: "unknown" },
    ...overrides,
  };
}

/** A UDP socket on loopback port 0 whose messages go to `onMessage`; close it in afterEach. */
export async function udpPeer(
  onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket) => void = () => {},
  type: "udp4" | "udp6" = "udp4",
): Promise<{ socket: dgram.Socket; port: number; close: () => Promise<void> }> {
  const socket = dgram.createSocket(type);
  socket.on("message", (msg, rinfo) => onMessage(msg, rinfo, socket));
  await new Promise<void>((resolve) =>
    socket.bind(0, type === "udp4" ? "127.0.0.1" : "::1", () => resolve()),
  );
  let closed = false;
  return {
    socket,
    port: socket.address().port,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
}

/** Poll `check` every 5 ms for at most `ms`; bounded so a broken test fails instead of hanging. */
export async function until(check: () => boolean, ms = 2000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 5) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

/**
 * Wait (bounded, `ms`) until the reflector's counters show every value in `want`. The reflector counts a
 * reply only after its send (the kernel worker after sendto(), dgram in the send callback), so the sender
 * can hold a reply before `reflected` moves; on a loaded host that window is wide. Returns whether they
 * did; the caller still asserts the counters, so a wrong count fails with its values.
 */
export async function countersReach(
  r: { counters: object },
  want: Record<string, number>,
  ms = 5000,
): Promise<boolean> {
  const counters = () => r.counters as Record<string, number>;
  return until(() => Object.entries(want).every(([k, v]) => counters()[k] === v), ms);
}

export function primary(samples: Sample[]): Sample[] {
  return samples.filter((s) => !s.dup);
}
