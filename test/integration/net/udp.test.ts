import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { loadLibc } from "../../../agent/net/libc.js";
import {
  type Drained,
  openTimestampedUdp,
  type TimestampedUdpSocket,
  timestampPreference,
} from "../../../agent/net/udp.js";
import { udpPeer, until } from "../probe/stamp/harness.js";

const MODE = timestampPreference();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(port: number, family: 4 | 6 = 4, extra: { dscp?: number; ttl?: number } = {}) {
  const s = await openTimestampedUdp({
    remote: { address: family === 4 ? "127.0.0.1" : "::1", port, family },
    dscp: extra.dscp ?? 0,
    ...(extra.ttl ? { ttl: extra.ttl } : {}),
    clock: systemClock,
  });
  cleanups.push(() => s.close());
  return s;
}

function collect(s: TimestampedUdpSocket): Drained {
  const all: Drained = { datagrams: [], tx: [], faults: [], kernelDrops: 0 };
  s.onReadable(() => {
    const d = s.drain();
    all.datagrams.push(...d.datagrams);
    all.tx.push(...d.tx);
    all.faults.push(...d.faults);
    all.kernelDrops += d.kernelDrops;
  });
  return all;
}

describe(`timestamped UDP socket (${MODE} mode)`, () => {
  it("is the kernel socket unless forced to the fallback", async () => {
    const peer = await udpPeer();
    cleanups.push(peer.close);
    const s = await open(peer.port);
    expect(s.timestamps).toBe(MODE === "user" || !(await loadLibc()) ? "user" : "kernel");
  });

  for (const family of [4, 6] as const) {
    it(`echo over IPv${family}: RX after TX, kernel TX stamp after T1, TTL seen`, async () => {
      const peer = await udpPeer(
        (msg, rinfo, sock) => sock.send(msg, rinfo.port, rinfo.address),
        family === 4 ? "udp4" : "udp6",
      );
      cleanups.push(peer.close);
      const s = await open(peer.port, family, { ttl: 77 });
      const got = collect(s);
      const t1s: bigint[] = [];
      for (let i = 0; i < 3; i += 1) {
        s.send(Buffer.from([i, 1, 2, 3]), i, (t1) => t1s.push(t1));
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(await until(() => got.datagrams.length === 3)).toBe(true);
      expect(got.datagrams.map((d) => d.data[0])).toEqual([0, 1, 2]);
      for (const [i, d] of got.datagrams.entries()) {
        expect(d.rxNs > (t1s[i] as bigint)).toBe(true);
        expect(d.rxKernel).toBe(s.timestamps === "kernel");
        // The echo peer replies with the default TTL (64); user mode cannot see it.
        expect(d.ttl).toBe(s.timestamps === "kernel" ? 64 : null);
      }
      if (s.timestamps === "kernel") {
        expect(got.tx.map((t) => t.tag)).toEqual([0, 1, 2]);
        for (const t of got.tx) {
          const t1 = t1s[t.tag] as bigint;
          expect(t.ns >= t1).toBe(true);
          expect(t.ns < (got.datagrams[t.tag]?.rxNs as bigint)).toBe(true);
        }
      } else expect(got.tx).toEqual([]);
      expect(got.faults).toEqual([]);
    });
  }

  it("a closed port answers ICMP port unreachable: ECONNREFUSED", async () => {
    const peer = await udpPeer();
    const port = peer.port;
    await peer.close();
    const s = await open(port);
    const got = collect(s);
    for (let i = 0; i < 3; i += 1) {
      s.send(Buffer.from([i]), i, () => {});
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await until(() => got.faults.some((f) => f.code === "ECONNREFUSED"))).toBe(true);
    if (s.timestamps === "kernel") {
      const icmp = got.faults.find((f) => f.kind === "icmp");
      expect(icmp).toMatchObject({ code: "ECONNREFUSED", offender: "127.0.0.1" });
    }
  });

  it("the fallback refuses a DSCP it cannot set; the kernel socket accepts it", async () => {
    const peer = await udpPeer();
    cleanups.push(peer.close);
    if (MODE === "user")
      await expect(open(peer.port, 4, { dscp: 46 })).rejects.toThrow(/DSCP 46 needs the kernel/);
    else expect((await open(peer.port, 4, { dscp: 46 })).timestamps).toBe("kernel");
  });
});
