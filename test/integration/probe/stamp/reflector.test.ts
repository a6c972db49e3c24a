import { afterEach, describe, expect, it } from "vitest";
import { loadLibc } from "../../../../agent/net/libc.js";
import { timestampPreference } from "../../../../agent/net/udp.js";
import { STAMP_MAX_DATAGRAM_BYTES } from "../../../../agent/probe/limits.js";
import type { Sample } from "../../../../agent/probe/prober.js";
import {
  computeHmac,
  encodeSenderPacket,
  parseReflectorPacket,
} from "../../../../agent/probe/stamp/packet.js";
import { Reflector, type ReflectorOptions } from "../../../../agent/probe/stamp/reflector.js";
import { stamp } from "../../../../agent/probe/stamp/sender.js";
import { countersReach, primary, probeContext, probeSpec, udpPeer, until } from "./harness.js";

const KEY = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
const OTHER_KEY = Buffer.from("fedcba9876543210fedcba9876543210", "hex");
const T1 = { seconds: 0xe5a1b2c3, fraction: 0x40000000 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function reflector(opts: Partial<ReflectorOptions> = {}): Promise<Reflector> {
  const r = new Reflector({
    host: "127.0.0.1",
    port: 0,
    clockSync: { synced: false, source: "unknown" },
    ...opts,
  });
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

async function peer(onMessage?: Parameters<typeof udpPeer>[0], type?: "udp4" | "udp6") {
  const p = await udpPeer(onMessage, type);
  cleanups.push(p.close);
  return p;
}

describe("stamp sender ↔ reflector over loopback", () => {
  it("20 packets at 20 ms: none lost, RTT plausible, every sequence number matched", async () => {
    const r = await reflector();
    const seen: Sample[] = [];
    const samples = await stamp(
      probeSpec(r.address().port, { count: 20, interval_ms: 20 }),
      probeContext({ onSample: (s) => seen.push(s) }),
    );
    expect(samples.map((s) => s.seq)).toEqual([...Array(20).keys()]);
    for (const s of samples) {
      expect(s.rtt_ms).not.toBeNull();
      expect(s.rtt_ms as number).toBeGreaterThan(0);
      expect(s.rtt_ms as number).toBeLessThan(50);
      expect(s.reflector_ms as number).toBeGreaterThanOrEqual(0);
      expect(s.dup).toBeUndefined();
      expect(s.arrival).toBeTypeOf("number");
      // Neither clock claims sync, so no one-way delays.
      expect(s.fwd_ms).toBeUndefined();
    }
    expect(seen).toHaveLength(20);
    // Our kernel reflector confirms T3s, so the sender sends one trailer packet for the last reply's
    // follow-up (not a sample); the dgram reflector confirms none, and gets no trailer.
    const trailer = r.timestamps === "kernel" ? 1 : 0;
    await countersReach(r, { received: 20 + trailer, reflected: 20 + trailer });
    expect(r.counters).toEqual({
      received: 20 + trailer,
      reflected: 20 + trailer,
      dropped_malformed: 0,
      dropped_auth: 0,
      dropped_not_allowed: 0,
      dropped_rate_limited: 0,
      dropped_oversize: 0,
      dropped_kernel: 0,
      residence_over_1ms: expect.any(Number),
      residence_max_us: expect.any(Number),
      reply_tx_gap_max_us: expect.any(Number),
      reply_tx_late_over_1ms: expect.any(Number),
      tlv_hmac_failed: 0,
    });
    // Each sample says how it was timed: kernel stamps unless forced to the fallback.
    const kernel = timestampPreference() === "kernel" && (await loadLibc()) !== null;
    for (const s of samples) {
      expect(s.timestamps).toBe(kernel ? "kernel" : "user");
      expect(s.t1_source).toBe(kernel ? "kernel-tx" : "clock");
    }
    expect(r.timestamps).toBe(kernel ? "kernel" : "user");
  });

  it("works over IPv6 (::1)", async () => {
    const r = await reflector({ host: "::1" });
    const samples = await stamp(probeSpec(r.address().port, { host: "::1", count: 3 }), probeContext());
    expect(samples.map((s) => s.rtt_ms !== null)).toEqual([true, true, true]);
  });

  it("reports one-way delays when both ends say their clocks are synchronised", async () => {
    const synced = { synced: true, source: "chrony", max_error_ms: 1 };
    const r = await reflector({ clockSync: synced });
    const samples = await stamp(
      probeSpec(r.address().port, { count: 2 }),
      probeContext({ clockSync: synced }),
    );
    for (const s of samples) {
      expect(s.remote_synced).toBe(true);
      expect(s.fwd_ms).toBeTypeOf("number");
      expect(s.rev_ms).toBeTypeOf("number");
    }
  });

  it("authenticated mode on both ends", async () => {
    const r = await reflector({ authMode: "authenticated", authKey: KEY });
    const samples = await stamp(probeSpec(r.address().port, { count: 5, auth_key: KEY }), probeContext());
    expect(samples.filter((s) => s.rtt_ms !== null)).toHaveLength(5);
    await countersReach(r, { reflected: 5 });
    expect(r.counters.reflected).toBe(5);
  });

  it("authenticated request whose TLVs fail the HMAC TLV: answered, every TLV marked I, nothing filled in, counted", async () => {
    const r = await reflector({ authMode: "authenticated", authKey: KEY });
    const replies: Buffer[] = [];
    const p = await peer((msg) => replies.push(msg));
    const good = encodeSenderPacket(
      { seq: 1, timestamp: T1, errorEstimate: 0, ssid: 0 },
      { length: 160, followUp: true, authKey: KEY },
    );
    const forged = Buffer.from(good);
    forged.writeUInt32BE(7, 116); // inside the follow-up TLV: the base HMAC (octets 0..95) cannot see it
    forged.writeUInt32BE(2, 0); // and a new Sequence Number, re-signed with the base HMAC only
    computeHmac(KEY, forged).copy(forged, 96);
    p.socket.send(good, r.address().port, "127.0.0.1");
    await until(() => replies.length === 1);
    p.socket.send(forged, r.address().port, "127.0.0.1");
    expect(await until(() => replies.length === 2)).toBe(true);
    const [ok, bad] = replies.map((m) => m);
    // TLV flags: follow-up 112, HMAC TLV 132, Extra Padding 152.
    expect([ok?.[112], ok?.[132], ok?.[152]]).toEqual([0, 0, 0]);
    expect(parseReflectorPacket(ok as Buffer, KEY).tlvHmacFailed).toBe(false);
    expect([bad?.[112], bad?.[132], bad?.[152]]).toEqual([0x20, 0x20, 0x20]);
    expect(bad?.readUInt32BE(116)).toBe(7); // as sent: not processed
    expect(parseReflectorPacket(bad as Buffer, KEY)).toMatchObject({
      senderSeq: 2,
      followUp: null,
      tlvHmacFailed: true,
    });
    await countersReach(r, { reflected: 2 });
    expect(r.counters).toMatchObject({ reflected: 2, dropped_auth: 0, tlv_hmac_failed: 1 });
  });

  it("a wrong key loses every packet and the reflector counts each as dropped_auth", async () => {
    const r = await reflector({ authMode: "authenticated", authKey: KEY });
    const samples = await stamp(
      probeSpec(r.address().port, { count: 5, auth_key: OTHER_KEY, loss_timeout_ms: 200 }),
      probeContext(),
    );
    expect(samples.map((s) => s.rtt_ms)).toEqual([null, null, null, null, null]);
    expect(r.counters).toMatchObject({ received: 5, reflected: 0, dropped_auth: 5 });
  });

  it("an unauthenticated sender is refused by an authenticated-only reflector", async () => {
    const r = await reflector({ authMode: "authenticated", authKey: KEY });
    const samples = await stamp(
      probeSpec(r.address().port, { count: 2, loss_timeout_ms: 200 }),
      probeContext(),
    );
    expect(samples.map((s) => s.rtt_ms)).toEqual([null, null]);
    expect(r.counters.dropped_auth).toBe(2);
  });

  it("auth mode 'both' answers authenticated and open senders alike", async () => {
    const r = await reflector({ authMode: "both", authKey: KEY });
    const open = await stamp(probeSpec(r.address().port, { count: 2 }), probeContext());
    const signed = await stamp(probeSpec(r.address().port, { count: 2, auth_key: KEY }), probeContext());
    expect([...open, ...signed].map((s) => s.rtt_ms !== null)).toEqual([true, true, true, true]);
    // Open mode at 100 B carries the follow-up TLV: one trailer from the kernel reflector's confirming
    // sender; authenticated at 100 B has no room for TLV + HMAC TLV, so none.
    const trailer = r.timestamps === "kernel" ? 1 : 0;
    await countersReach(r, { received: 4 + trailer, reflected: 4 + trailer });
    expect(r.counters).toMatchObject({ received: 4 + trailer, reflected: 4 + trailer, dropped_auth: 0 });
  });

  it("a peer outside the allow list is not answered", async () => {
    const r = await reflector({ allow: ["192.0.2.0/24", "2001:db8::/32"] });
    const samples = await stamp(
      probeSpec(r.address().port, { count: 3, loss_timeout_ms: 200 }),
      probeContext(),
    );
    expect(samples.map((s) => s.rtt_ms)).toEqual([null, null, null]);
    expect(r.counters).toMatchObject({ received: 3, reflected: 0, dropped_not_allowed: 3 });
  });

  it("counts a 5-byte packet as malformed and still answers the next good one", async () => {
    const r = await reflector();
    const raw = await peer();
    raw.socket.send(Buffer.from([1, 2, 3, 4, 5]), r.address().port, "127.0.0.1");
    expect(await until(() => r.counters.dropped_malformed === 1)).toBe(true);
    const samples = await stamp(probeSpec(r.address().port, { count: 1 }), probeContext());
    expect(samples[0]?.rtt_ms).not.toBeNull();
    await countersReach(r, { reflected: 1 });
    expect(r.counters).toMatchObject({ received: 2, reflected: 1, dropped_malformed: 1 });
  });

  it("answers the largest datagram (9216 bytes); a longer one is counted as oversize, not malformed", async () => {
    const r = await reflector();
    const replies: Buffer[] = [];
    const raw = await peer((msg) => replies.push(msg));
    const packet = (seq: number, length: number) =>
      encodeSenderPacket({ seq, timestamp: T1, errorEstimate: 1, ssid: 0 }, { length });
    raw.socket.send(packet(1, STAMP_MAX_DATAGRAM_BYTES + 1), r.address().port, "127.0.0.1");
    expect(await until(() => r.counters.received === 1)).toBe(true);
    raw.socket.send(packet(2, STAMP_MAX_DATAGRAM_BYTES), r.address().port, "127.0.0.1");
    expect(await until(() => replies.length === 1)).toBe(true);
    expect(replies.map((m) => [m.length, parseReflectorPacket(m).senderSeq])).toEqual([[9216, 2]]);
    await countersReach(r, { reflected: 1 });
    expect(r.counters).toMatchObject({
      received: 2,
      reflected: 1,
      dropped_oversize: 1,
      dropped_malformed: 0,
    });
  });

  it("the sender refuses a size the reflector would drop, or that it would have to pad", async () => {
    const r = await reflector();
    for (const [size, message] of [
      [
        9245,
        "packet_size_bytes 9245 is above the largest STAMP test packet a reflector takes over IPv4 (9244 bytes: a 9216-byte datagram + 28 IP and UDP headers)",
      ],
      [
        71,
        "packet_size_bytes 71 is below the smallest unauthenticated STAMP test packet over IPv4 (72 bytes: 44 STAMP + 28 IP and UDP headers)",
      ],
    ] as const) {
      await expect(
        stamp(probeSpec(r.address().port, { count: 1, packet_size_bytes: size }), probeContext()),
      ).rejects.toMatchObject({ code: "PROBE_SETUP", message });
    }
    const largest = await stamp(
      probeSpec(r.address().port, { count: 1, packet_size_bytes: 9244 }),
      probeContext(),
    );
    expect(largest[0]?.rtt_ms).not.toBeNull();
    await countersReach(r, { reflected: 1 });
    expect(r.counters).toMatchObject({ received: 1, reflected: 1, dropped_oversize: 0 });
  });

  it("rate-limits per source", async () => {
    const r = await reflector({ rateLimitPps: 1, rateLimitBurst: 1 });
    const replies: Buffer[] = [];
    const raw = await peer((msg) => replies.push(msg));
    for (let seq = 0; seq < 3; seq += 1) {
      const packet = encodeSenderPacket({ seq, timestamp: T1, errorEstimate: 1, ssid: 0 }, { length: 44 });
      raw.socket.send(packet, r.address().port, "127.0.0.1");
    }
    // Burst 1 at 1 pps: the first passes, the next two (sent within far less than a second) do not.
    expect(await until(() => r.counters.received === 3)).toBe(true);
    expect(await until(() => replies.length === 1)).toBe(true);
    await countersReach(r, { reflected: 1 });
    expect(r.counters).toMatchObject({ reflected: 1, dropped_rate_limited: 2 });
  });

  it("runts and oversize datagrams are dropped before the rate limiter: they spend no source's budget", async () => {
    // Both engines in one order (reflector-loop.ts drain, reflector.ts onMessage): size, allow list,
    // rate limit, parse. A flood of runts from an address must not starve that address's real tests.
    const r = await reflector({ rateLimitPps: 1, rateLimitBurst: 1 });
    const replies: Buffer[] = [];
    const raw = await peer((msg) => replies.push(msg));
    for (let k = 0; k < 5; k += 1) raw.socket.send(Buffer.alloc(10, 7), r.address().port, "127.0.0.1");
    expect(await until(() => r.counters.received === 5)).toBe(true);
    const packet = encodeSenderPacket({ seq: 1, timestamp: T1, errorEstimate: 1, ssid: 0 }, { length: 44 });
    raw.socket.send(packet, r.address().port, "127.0.0.1");
    expect(await until(() => replies.length === 1)).toBe(true);
    await countersReach(r, { reflected: 1 });
    expect(r.counters).toMatchObject({
      received: 6,
      reflected: 1,
      dropped_malformed: 5,
      dropped_rate_limited: 0,
    });
  });

  it("stateful mode numbers replies per session; stateless echoes the sender's number", async () => {
    const stateful = await reflector({ stateful: true });
    const stateless = await reflector();
    const got: { port: number; seq: number; senderSeq: number; ssid: number }[] = [];
    const raw = await peer((msg, rinfo) => {
      const p = parseReflectorPacket(msg);
      got.push({ port: rinfo.port, seq: p.seq, senderSeq: p.senderSeq, ssid: p.ssid });
    });
    const send = (port: number, seq: number, ssid: number) =>
      raw.socket.send(
        encodeSenderPacket({ seq, timestamp: T1, errorEstimate: 1, ssid }, { length: 44 }),
        port,
        "127.0.0.1",
      );
    send(stateful.address().port, 100, 7);
    expect(await until(() => got.length === 1)).toBe(true);
    send(stateful.address().port, 200, 7);
    expect(await until(() => got.length === 2)).toBe(true);
    send(stateful.address().port, 300, 8); // another SSID = another session, its own counter
    expect(await until(() => got.length === 3)).toBe(true);
    send(stateless.address().port, 400, 7);
    expect(await until(() => got.length === 4)).toBe(true);
    expect(got.map(({ seq, senderSeq, ssid }) => [seq, senderSeq, ssid])).toEqual([
      [0, 100, 7],
      [1, 200, 7],
      [0, 300, 8],
      [400, 400, 7],
    ]);
  });

  it("answers TWAMP-light requests (41 and 14 bytes) with a full 44-byte reply", async () => {
    const r = await reflector();
    const replies: Buffer[] = [];
    const raw = await peer((msg) => replies.push(msg));
    // RFC 5357: 14-byte sender header + 27 bytes of padding so the reflector's fields fit.
    const request = Buffer.alloc(41);
    request.writeUInt32BE(42, 0);
    request.writeUInt32BE(T1.seconds, 4);
    request.writeUInt32BE(T1.fraction, 8);
    request.writeUInt16BE(1, 12);
    raw.socket.send(request, r.address().port, "127.0.0.1");
    expect(await until(() => replies.length === 1)).toBe(true);
    const reply = replies[0] as Buffer;
    // RFC 8762 §4.3: the reflector packet is at least the 44-byte base, otherwise as long as the request.
    expect(reply.length).toBe(44);
    const parsed = parseReflectorPacket(reply);
    expect(parsed).toMatchObject({
      seq: 42,
      senderSeq: 42,
      senderTimestamp: T1,
      senderErrorEstimate: 1,
      // The kernel reflector copies the received TTL (RFC 8762 §4.3.1); dgram cannot see it.
      senderTtl: r.timestamps === "kernel" ? 64 : 0,
    });
    // A bare 14-byte request still gets every reflector field (44 bytes; at most 44/14 amplification).
    request.writeUInt32BE(43, 0);
    raw.socket.send(request.subarray(0, 14), r.address().port, "127.0.0.1");
    expect(await until(() => replies.length === 2)).toBe(true);
    expect(replies[1]?.length).toBe(44);
    expect(parseReflectorPacket(replies[1] as Buffer).senderSeq).toBe(43);
    // Anything shorter cannot be a test packet: counted and dropped.
    raw.socket.send(request.subarray(0, 13), r.address().port, "127.0.0.1");
    expect(await until(() => r.counters.dropped_malformed === 1)).toBe(true);
    expect(replies).toHaveLength(2);
  });

  it("abort stops sending and returns only the packets sent", async () => {
    const r = await reflector();
    const controller = new AbortController();
    let settled = 0;
    const samples = await stamp(
      probeSpec(r.address().port, { count: 50, interval_ms: 20 }),
      probeContext({
        signal: controller.signal,
        onSample: () => {
          settled += 1;
          if (settled === 5) controller.abort();
        },
      }),
    );
    // Replies on loopback take well under the 20 ms gap, so packet 6 was never sent.
    expect(primary(samples).map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(r.counters.received).toBe(5);
  });
});
