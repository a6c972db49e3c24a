import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadLibc } from "../../../../agent/net/libc.js";
import { timestampPreference } from "../../../../agent/net/udp.js";
import { REFLECTOR_RECEIVE_BUFFER_BYTES } from "../../../../agent/probe/limits.js";
import { encodeSenderPacket, parseReflectorPacket } from "../../../../agent/probe/stamp/packet.js";
import { Reflector } from "../../../../agent/probe/stamp/reflector.js";
import { stamp } from "../../../../agent/probe/stamp/sender.js";
import { countersReach, probeContext, probeSpec, udpPeer, until } from "./harness.js";

/**
 * What only the kernel-timestamped path can do, proven against outside witnesses: tshark's capture
 * times, the IP header's DSCP and TTL on the wire. Runs when the STAMP tests run in kernel mode (the
 * default); with QOSPROBE_TIMESTAMPS=user the same suite checks the fallback elsewhere. On Linux with
 * koffi installed (CI), a failure to load it is a failure, not a skip.
 */
const KERNEL = timestampPreference() === "kernel";
if (KERNEL && process.platform === "linux" && !(await loadLibc()))
  throw new Error(
    "koffi did not load: install optional dependencies (npm ci) or set QOSPROBE_TIMESTAMPS=user",
  );

const TSHARK = "/usr/bin/tshark";
const haveTshark = existsSync(TSHARK);
if (!haveTshark && process.env.CI) throw new Error("CI must run the tshark tests: install tshark");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Where the kernel reflector's loop runs in the describe block running now (both are tested). */
let THREAD: "main" | "worker" = "main";

async function reflector(
  host = "127.0.0.1",
  extra: Partial<ConstructorParameters<typeof Reflector>[0]> = {},
) {
  const r = new Reflector({
    host,
    port: 0,
    clockSync: { synced: false, source: "unknown" },
    thread: THREAD,
    ...extra,
  });
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

/** Capture `packets` packets on lo for UDP port `port`; rows of the requested fields, "|"-separated. */
function capture(port: number, packets: number, fields: string[]) {
  const args = ["-i", "lo", "-f", `udp port ${port}`, "-c", String(packets), "-a", "duration:15"];
  args.push("-d", `udp.port==${port},twamp.test`, "-T", "fields", "-E", "separator=|");
  for (const f of fields) args.push("-e", f);
  const proc: ChildProcess = spawn(TSHARK, args, { env: { ...process.env, TZ: "UTC", LC_ALL: "C" } });
  cleanups.push(() => {
    proc.kill();
  });
  let stdout = "";
  let stderr = "";
  proc.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<string[][]>((resolve, reject) => {
    proc.on("error", reject);
    proc.on("close", (code) =>
      code === 0
        ? resolve(
            stdout
              .trim()
              .split("\n")
              .map((l) => l.split("|")),
          )
        : reject(new Error(`tshark exited ${code}: ${stderr}`)),
    );
  });
  return { done, ready: () => /Capture started/.test(stderr) };
}

/**
 * Send `n` requests (`request(seq)`, 20 ms apart) to the reflector on `port` while tshark captures both
 * directions; the parsed replies and the capture's rows (epoch, UDP source port, STAMP sequence number).
 */
async function captureExchange(port: number, n: number, request: (seq: number) => Buffer) {
  const cap = capture(port, 2 * n, ["frame.time_epoch", "udp.srcport", "twamp.test.seq_number"]);
  expect(await until(cap.ready, 10_000)).toBe(true);
  const replies: ReturnType<typeof parseReflectorPacket>[] = [];
  const peer = await udpPeer((msg) => replies.push(parseReflectorPacket(msg)));
  cleanups.push(peer.close);
  for (let seq = 0; seq < n; seq += 1) {
    peer.socket.send(request(seq), port, "127.0.0.1");
    await new Promise((res) => setTimeout(res, 20));
  }
  expect(await until(() => replies.length === n, 5000)).toBe(true);
  return { replies, rows: await cap.done };
}

/** "1796049678.123456789" (frame.time_epoch) → ns. */
function epochToNs(text: string): bigint {
  const [s = "0", f = "0"] = text.trim().split(".");
  return BigInt(s) * 1_000_000_000n + BigInt(f.padEnd(9, "0").slice(0, 9));
}

function ntpToNs(t: { seconds: number; fraction: number }): bigint {
  return (
    (BigInt(t.seconds) - 2_208_988_800n) * 1_000_000_000n + (BigInt(t.fraction) * 1_000_000_000n) / 2n ** 32n
  );
}

describe.skipIf(!KERNEL).each(["main", "worker"] as const)(
  "kernel-timestamped STAMP, reflector loop on the %s thread",
  (thread) => {
    beforeEach(() => {
      THREAD = thread;
    });

    it.skipIf(!haveTshark)(
      "T2 is the packet's arrival on the wire (≤ 0.1 ms from tshark), T3 precedes the reply",
      async () => {
        const r = await reflector();
        const port = r.address().port;
        const { replies, rows } = await captureExchange(port, 5, (seq) =>
          encodeSenderPacket(
            { seq, timestamp: { seconds: 0, fraction: 0 }, errorEstimate: 0, ssid: 0 },
            { length: 44 },
          ),
        );
        for (const reply of replies) {
          const seq = reply.senderSeq;
          const request = rows.find((c) => Number(c[1]) !== port && Number(c[2]) === seq);
          const answer = rows.find((c) => Number(c[1]) === port && Number(c[2]) === seq);
          const t2 = ntpToNs(reply.receiveTimestamp);
          const t3 = ntpToNs(reply.timestamp);
          const wireIn = epochToNs(request?.[0] ?? "");
          const wireOut = epochToNs(answer?.[0] ?? "");
          const t2Error = t2 - wireIn;
          expect(t2Error < 0n ? -t2Error : t2Error).toBeLessThanOrEqual(100_000n); // 0.1 ms
          // T3 is read just before sendto: before the reply is on the wire, never after.
          expect(t3 <= wireOut).toBe(true);
          expect(t3 >= t2).toBe(true);
        }
      },
    );

    it.skipIf(!haveTshark)(
      "Follow-Up Telemetry: each reply reports when the previous one hit the wire (≤ 0.1 ms from tshark)",
      async () => {
        const r = await reflector();
        const port = r.address().port;
        const N = 5;
        const { replies, rows } = await captureExchange(port, N, (seq) =>
          encodeSenderPacket(
            { seq, timestamp: { seconds: 0, fraction: 0 }, errorEstimate: 0, ssid: 3 },
            { length: 72, followUp: true },
          ),
        );
        // The session's first reply has nothing to report; each later one names its predecessor.
        expect(replies[0]?.followUp).toBeNull();
        for (let k = 1; k < N; k += 1) {
          const f = replies[k]?.followUp;
          const previous = replies[k - 1];
          expect(f?.seq).toBe(k - 1);
          expect(f?.mode).toBe(2); // SW local: the kernel's software TX stamp
          const wireOut = epochToNs(
            rows.find((c) => Number(c[1]) === port && Number(c[2]) === k - 1)?.[0] ?? "",
          );
          const followUpNs = ntpToNs(f?.timestamp ?? { seconds: 0, fraction: 0 });
          const error = followUpNs - wireOut;
          expect(error < 0n ? -error : error).toBeLessThanOrEqual(100_000n); // 0.1 ms
          // The reply left after the T3 it carried.
          expect(followUpNs >= ntpToNs(previous?.timestamp ?? { seconds: 0, fraction: 0 })).toBe(true);
        }
        const c = r.counters;
        expect(c.reply_tx_gap_max_us).toBeGreaterThan(0);
        expect(c.reply_tx_late_over_1ms).toBeLessThanOrEqual(c.reflected);
      },
    );

    it("the sender corrects every reply with the reflector's follow-up, the last one through a trailer packet", async () => {
      const r = await reflector();
      const samples = await stamp(probeSpec(r.address().port, { count: 20, interval_ms: 5 }), probeContext());
      expect(samples.every((s) => s.rtt_ms !== null)).toBe(true);
      expect(samples.map((s) => s.seq)).toEqual([...Array(20).keys()]); // the trailer is no sample
      const corrected = samples.filter((s) => s.t3_follow_up_ms !== undefined);
      expect(corrected.map((s) => s.seq)).toEqual([...Array(20).keys()]);
      for (const s of corrected) {
        expect(s.t3_follow_up_ms as number).toBeGreaterThanOrEqual(0);
        expect(s.rtt_ms as number).toBeGreaterThanOrEqual(0);
      }
      // 20 measured packets and one trailer, whose reply confirmed seq 19. The worker counts a reply after
      // its sendto, so the sender can hold the trailer's reply a moment before the count moves: poll for it.
      await countersReach(r, { received: 21, reflected: 21 });
      expect(r.counters).toMatchObject({ received: 21, reflected: 21 });
    });

    it("authenticated mode: follow-ups under the HMAC TLV (RFC 8972 §4.8) correct every reply", async () => {
      const key = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
      const r = await reflector("127.0.0.1", { authMode: "authenticated", authKey: key });
      // 200-byte IPv4 packet: UDP payload 172 ≥ 112 base + 20 follow-up + 20 HMAC TLV + 4.
      const samples = await stamp(
        probeSpec(r.address().port, { count: 20, interval_ms: 5, auth_key: key, packet_size_bytes: 200 }),
        probeContext(),
      );
      expect(samples.every((s) => s.rtt_ms !== null && s.follow_up_requested === true)).toBe(true);
      const corrected = samples.filter((s) => s.t3_follow_up_ms !== undefined);
      expect(corrected.map((s) => s.seq)).toEqual([...Array(20).keys()]);
      expect(samples.some((s) => s.tlv_hmac_failed)).toBe(false);
      await countersReach(r, { reflected: 21 }); // counted after sendto: poll, as above
      expect(r.counters).toMatchObject({ reflected: 21, tlv_hmac_failed: 0, dropped_auth: 0 });
      // 180 bytes (payload 152) is the smallest that fits exactly; 179 does not: nothing is asked.
      const fits = await stamp(
        probeSpec(r.address().port, { count: 3, interval_ms: 5, auth_key: key, packet_size_bytes: 180 }),
        probeContext(),
      );
      expect(fits.filter((s) => s.t3_follow_up_ms !== undefined).map((s) => s.seq)).toEqual([0, 1, 2]);
      const small = await stamp(
        probeSpec(r.address().port, { count: 3, interval_ms: 5, auth_key: key, packet_size_bytes: 179 }),
        probeContext(),
      );
      expect(small.map((s) => [s.rtt_ms !== null, s.follow_up_requested, s.t3_follow_up_ms])).toEqual([
        [true, undefined, undefined],
        [true, undefined, undefined],
        [true, undefined, undefined],
      ]);
    });

    for (const family of [4, 6] as const) {
      it.skipIf(!haveTshark)(`DSCP 46 on the wire over IPv${family}, both directions`, async () => {
        const host = family === 4 ? "127.0.0.1" : "::1";
        const r = await reflector(host);
        const port = r.address().port;
        const field = family === 4 ? "ip.dsfield.dscp" : "ipv6.tclass.dscp";
        const cap = capture(port, 6, [field, "udp.srcport"]);
        expect(await until(cap.ready, 10_000)).toBe(true);
        const samples = await stamp(
          probeSpec(port, { host, count: 3, dscp: 46, interval_ms: 10 }),
          probeContext(),
        );
        expect(samples.filter((s) => s.rtt_ms !== null)).toHaveLength(3);
        const rows = await cap.done;
        expect(rows).toHaveLength(6);
        expect(rows.map((c) => c[0])).toEqual(["46", "46", "46", "46", "46", "46"]);
      });

      it(`Sender TTL is the TTL the request came with (77) over IPv${family}`, async () => {
        const r = await reflector(family === 4 ? "127.0.0.1" : "::1");
        const replies: ReturnType<typeof parseReflectorPacket>[] = [];
        const peer = await udpPeer(
          (msg) => replies.push(parseReflectorPacket(msg)),
          family === 4 ? "udp4" : "udp6",
        );
        cleanups.push(peer.close);
        peer.socket.setTTL(77);
        peer.socket.send(
          encodeSenderPacket(
            { seq: 9, timestamp: { seconds: 1, fraction: 0 }, errorEstimate: 0, ssid: 0 },
            { length: 44 },
          ),
          r.address().port,
          family === 4 ? "127.0.0.1" : "::1",
        );
        expect(await until(() => replies.length === 1)).toBe(true);
        expect(replies[0]?.senderTtl).toBe(77);
      });
    }

    it("stop never hangs: idle, after traffic, twice, and racing a burst", async () => {
      for (let i = 0; i < 3; i += 1) {
        const r = new Reflector({
          host: "127.0.0.1",
          port: 0,
          clockSync: { synced: false, source: "unknown" },
          thread,
        });
        await r.start();
        const port = r.address().port;
        const peer = await udpPeer();
        const pkt = encodeSenderPacket(
          { seq: 1, timestamp: { seconds: 1, fraction: 0 }, errorEstimate: 0, ssid: 0 },
          { length: 44 },
        );
        for (let k = 0; k < 200 * i; k += 1) peer.socket.send(pkt, port, "127.0.0.1");
        // The test's own timeout is the bound: stop() joins a worker for at most 2 s, then terminates it.
        await r.stop();
        await r.stop(); // a second stop is a no-op
        expect(() => r.address()).toThrow(/not started/);
        await peer.close();
      }
    });

    /** Sends `n` requests back to back, in one synchronous loop: a main-thread reflector reads none meanwhile. */
    async function burst(askBytes: number | undefined, n: number) {
      const r = await reflector("127.0.0.1", askBytes ? { receiveBufferBytes: askBytes } : {});
      const port = r.address().port;
      const peer = await udpPeer();
      cleanups.push(peer.close);
      const pkt = encodeSenderPacket(
        { seq: 1, timestamp: { seconds: 1, fraction: 0 }, errorEstimate: 0, ssid: 0 },
        { length: 44 },
      );
      for (let k = 0; k < n; k += 1) peer.socket.send(pkt, port, "127.0.0.1");
      // Until the loop has read all it will (the count stands still for 100 ms), bounded at 5 s.
      let last = -1;
      for (let waited = 0; waited < 5000 && r.counters.received !== last; waited += 100) {
        last = r.counters.received;
        await new Promise((res) => setTimeout(res, 100));
      }
      // SO_RXQ_OVFL reports drops with the next datagram read: one more brings the count in.
      peer.socket.send(pkt, port, "127.0.0.1");
      await until(() => r.counters.received + r.counters.dropped_kernel >= n + 1, 5000);
      return { granted: r.receiveBufferBytes, counters: r.counters };
    }

    it("the default receive queue holds a 1,500-request burst the kernel's default queue drops", async () => {
      const rmemMax = Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8"));
      const asked = REFLECTOR_RECEIVE_BUFFER_BYTES;
      const { granted, counters } = await burst(undefined, 1500);
      expect(granted).toBe(2 * Math.min(asked, rmemMax)); // socket(7): doubled, capped at rmem_max
      expect(counters.received + counters.dropped_kernel).toBe(1501);
      if (rmemMax >= asked) {
        expect(counters.dropped_kernel).toBe(0);
        expect(counters.reflected).toBe(1501);
      }
      if (thread === "main") {
        // The witness that the burst overflows a queue of the kernel's default size (rmem_default,
        // 212992 bytes: asking half of it, as the kernel doubles) when the loop cannot read meanwhile.
        const small = await burst(106_496, 1500);
        expect(small.granted).toBe(212_992);
        expect(small.counters.dropped_kernel).toBeGreaterThan(0);
        expect(small.counters.received + small.counters.dropped_kernel).toBe(1501);
      }
    });
  },
);
