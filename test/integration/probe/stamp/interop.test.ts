import type dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { ntpFromEpochMs, writeNtp } from "../../../../agent/probe/stamp/ntp.js";
import {
  encodeReflectorPacket,
  type ParsedSenderPacket,
  parseSenderPacket,
} from "../../../../agent/probe/stamp/packet.js";
import { stamp } from "../../../../agent/probe/stamp/sender.js";
import { primary, probeContext, probeSpec, udpPeer } from "./harness.js";

/**
 * Hand-written reflectors that misbehave in the ways real peers do: TWAMP-light short replies,
 * duplicated replies, a held-back reply (reordering), a reply after the loss timeout, a reply from
 * the wrong port.
 */

const cleanups: (() => Promise<void>)[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearTimeout(t);
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeReflector(
  onRequest: (req: ParsedSenderPacket, raw: Buffer, reply: (b: Buffer) => void) => void,
) {
  const p = await udpPeer((msg, rinfo, socket: dgram.Socket) => {
    onRequest(parseSenderPacket(msg), msg, (b) => socket.send(b, rinfo.port, rinfo.address));
  });
  cleanups.push(p.close);
  return p;
}

/** A proper 44-byte-or-longer unauthenticated reply, T2 = T3 = now. */
function standardReply(req: ParsedSenderPacket, raw: Buffer): Buffer {
  const now = ntpFromEpochMs(Date.now());
  return encodeReflectorPacket(
    {
      seq: req.seq,
      timestamp: now,
      errorEstimate: 1,
      ssid: req.ssid ?? 0,
      receiveTimestamp: now,
      senderSeq: req.seq,
      senderTimestamp: req.timestamp,
      senderErrorEstimate: req.errorEstimate,
      senderTtl: 64,
    },
    { length: raw.length, request: raw },
  );
}

function later(ms: number, fn: () => void): void {
  timers.push(setTimeout(fn, ms));
}

describe("stamp sender against other reflectors", () => {
  it("parses a 38-byte TWAMP-light reply (T2 = T3) and pads requests to the IP packet size", async () => {
    const requestLengths: number[] = [];
    const fake = await fakeReflector((req, raw, reply) => {
      requestLengths.push(raw.length);
      // RFC 5357 §4.2.1 fields up to the Sender Error Estimate; no MBZ, TTL or padding.
      const b = Buffer.alloc(38);
      const now = ntpFromEpochMs(Date.now());
      b.writeUInt32BE(req.seq, 0);
      writeNtp(b, 4, now);
      b.writeUInt16BE(1, 12);
      writeNtp(b, 16, now);
      b.writeUInt32BE(req.seq, 24);
      writeNtp(b, 28, req.timestamp);
      b.writeUInt16BE(req.errorEstimate, 36);
      reply(b);
    });
    const samples = await stamp(probeSpec(fake.port, { count: 3, packet_size_bytes: 128 }), probeContext());
    expect(samples.map((s) => [s.seq, s.rtt_ms !== null, s.reflector_ms])).toEqual([
      [0, true, 0],
      [1, true, 0],
      [2, true, 0],
    ]);
    // 128-byte IPv4 packet − 20 (IP) − 8 (UDP) = 100-byte STAMP payload.
    expect(requestLengths).toEqual([100, 100, 100]);
  });

  it("counts a second reply to the same packet as a duplicate, after its original", async () => {
    const fake = await fakeReflector((req, raw, reply) => {
      const b = standardReply(req, raw);
      reply(b);
      reply(b);
    });
    const samples = await stamp(probeSpec(fake.port, { count: 3 }), probeContext());
    expect(samples.map((s) => [s.seq, s.dup ?? false])).toEqual([
      [0, false],
      [0, true],
      [1, false],
      [1, true],
      [2, false],
      [2, true],
    ]);
    expect(primary(samples).every((s) => s.rtt_ms !== null)).toBe(true);
  });

  it("shows a held-back reply in the arrival order", async () => {
    // Packets at 0, 20, 40, 60 ms; the reply to seq 1 is held 100 ms, so it arrives after seq 3's.
    const fake = await fakeReflector((req, raw, reply) => {
      const b = standardReply(req, raw);
      if (req.seq === 1) later(100, () => reply(b));
      else reply(b);
    });
    const samples = await stamp(probeSpec(fake.port, { count: 4, interval_ms: 20 }), probeContext());
    expect(samples.map((s) => [s.seq, s.arrival])).toEqual([
      [0, 0],
      [1, 3],
      [2, 1],
      [3, 2],
    ]);
    expect(samples.every((s) => s.rtt_ms !== null)).toBe(true);
  });

  it("a reply after the loss timeout is late and still lost", async () => {
    // Timeout 100 ms; seq 0's reply is held 200 ms while the run goes on (packets at 0, 150, 300 ms).
    const fake = await fakeReflector((req, raw, reply) => {
      const b = standardReply(req, raw);
      if (req.seq === 0) later(200, () => reply(b));
      else reply(b);
    });
    const samples = await stamp(
      probeSpec(fake.port, { count: 3, interval_ms: 150, loss_timeout_ms: 100 }),
      probeContext(),
    );
    expect(samples.map((s) => [s.seq, s.rtt_ms === null, s.late ?? false])).toEqual([
      [0, true, true],
      [1, false, false],
      [2, false, false],
    ]);
  });

  it("ignores replies that come from another port than the one probed", async () => {
    // The probed socket stays silent; a second socket on the same address answers for it.
    const other = await udpPeer();
    cleanups.push(other.close);
    const probed = await udpPeer((msg, rinfo) => {
      other.socket.send(standardReply(parseSenderPacket(msg), msg), rinfo.port, rinfo.address);
    });
    cleanups.push(probed.close);
    const samples = await stamp(probeSpec(probed.port, { count: 2, loss_timeout_ms: 150 }), probeContext());
    expect(samples.map((s) => s.rtt_ms)).toEqual([null, null]);
  });
});
