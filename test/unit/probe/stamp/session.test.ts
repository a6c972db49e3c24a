import { describe, expect, it } from "vitest";
import type { Sample } from "../../../../agent/probe/prober.js";
import type { NtpTime } from "../../../../agent/probe/stamp/ntp.js";
import type { ParsedReflectorPacket } from "../../../../agent/probe/stamp/packet.js";
import { refusalCount, udpPayloadBytes } from "../../../../agent/probe/stamp/sender.js";
import { SessionBook } from "../../../../agent/probe/stamp/session.js";

const SYNCED_EE = 0x8f84; // S bit set
const UNSYNCED_EE = 0x0f84;

/** An NTP time `ms` milliseconds after second 1000 (fractions exact for multiples of 1/1024 s… here 0.5/0.25). */
function at(ms: number): NtpTime {
  const seconds = 1000 + Math.floor(ms / 1000);
  return { seconds, fraction: Math.round(((ms % 1000) / 1000) * 2 ** 32) };
}

function reply(seq: number, t1: NtpTime, t2ms: number, t3ms: number, ee = SYNCED_EE): ParsedReflectorPacket {
  return {
    seq,
    timestamp: at(t3ms),
    errorEstimate: ee,
    ssid: 0,
    receiveTimestamp: at(t2ms),
    senderSeq: seq,
    senderTimestamp: t1,
    senderErrorEstimate: 0,
    senderTtl: 0,
    mode: "unauthenticated",
    followUp: null,
    tlvHmacFailed: false,
    length: 44,
  };
}

function book(synced = true) {
  const seen: Sample[] = [];
  const b = new SessionBook(1000, synced, (s) => seen.push(s));
  // Packet seq sent at mono 10·seq ms with T1 = at(10·seq) on the NTP scale; 0.5 ms late on schedule.
  const send = (seq: number) =>
    b.sent({ seq, sentMono: 10 * seq, t1: at(10 * seq), sentAtMs: 5_000 + 10 * seq, sendErrorMs: 0.5 });
  return { b, seen, send };
}

describe("SessionBook", () => {
  it("computes RTT, reflector time and one-way delays from the four timestamps", () => {
    const { b, seen, send } = book();
    send(0);
    // T1 = 0, T2 = 250, T3 = 500, T4 = 1000 (mono 1000 − 0 is within the 1000 ms timeout).
    // RTT = (1000 − 0) − (500 − 250) = 750; fwd = T2 − T1 = 250; rev = T4 − T3 = 500.
    expect(b.reply(reply(0, at(0), 250, 500), 1000, at(1000))).toBe("matched");
    expect(seen).toEqual([
      {
        seq: 0,
        sent_at: 5000,
        rtt_ms: 750,
        reflector_ms: 250,
        fwd_ms: 250,
        rev_ms: 500,
        // Error Estimate 0x8f84: Multiplier 132 × 2^(15 − 32) s = 132 / 131072 s = 1.007080078125 ms.
        remote_error_ms: 1.007080078125,
        send_error_ms: 0.5,
        remote_synced: true,
        arrival: 0,
      },
    ]);
  });

  it("leaves one-way delays out unless both clocks are synchronised", () => {
    const local = book(false);
    local.send(0);
    local.b.reply(reply(0, at(0), 250, 500), 1000, at(1000));
    expect(local.seen[0]?.fwd_ms).toBeUndefined();
    const remote = book(true);
    remote.send(0);
    remote.b.reply(reply(0, at(0), 250, 500, UNSYNCED_EE), 1000, at(1000));
    expect(remote.seen[0]).toMatchObject({ rtt_ms: 750, remote_synced: false });
    expect(remote.seen[0]?.rev_ms).toBeUndefined();
  });

  it("marks losses at the timeout, late replies, duplicates and arrival order", () => {
    const { b, seen, send } = book();
    send(0);
    send(1);
    send(2);
    // seq 1 answers first (arrival 0), then seq 0 (arrival 1): reordered. T2 = T3 so RTT = T4 − T1.
    expect(b.reply(reply(1, at(10), 20, 20), 30, at(30))).toBe("matched");
    expect(b.reply(reply(0, at(0), 20, 20), 40, at(40))).toBe("matched");
    // A second copy of seq 0 at mono 50: dup with its own RTT 50 and the next arrival index.
    expect(b.reply(reply(0, at(0), 20, 20), 50, at(50))).toBe("duplicate");
    // seq 2 (sent at 20) times out at 20 + 1000 = 1020.
    b.expire(1019);
    expect(b.pendingCount).toBe(1);
    b.expire(1020);
    expect(b.pendingCount).toBe(0);
    // Its reply at 1500 is late: still lost, flagged.
    expect(b.reply(reply(2, at(20), 30, 30), 1500, at(1500))).toBe("late");
    // A reply to a sequence number never sent, or echoing another T1, is not ours.
    expect(b.reply(reply(9, at(0), 1, 1), 1600, at(1600))).toBe("unknown-seq");
    expect(b.reply(reply(1, at(999), 1, 1), 1600, at(1600))).toBe("mismatched-timestamp");

    expect(seen.map((s) => [s.seq, s.rtt_ms, s.dup ?? false])).toEqual([
      [1, 20, false],
      [0, 40, false],
      [0, 50, true],
      [2, null, false],
    ]);
    const samples = b.samples();
    expect(samples.map((s) => [s.seq, s.rtt_ms, s.arrival, s.dup ?? false, s.late ?? false])).toEqual([
      [0, 40, 1, false, false],
      [0, 50, 2, true, false],
      [1, 20, 0, false, false],
      [2, null, undefined, false, true],
    ]);
  });

  it("leaves packets still in flight out of the samples (aborted run)", () => {
    const { b, send } = book();
    send(0);
    send(1);
    b.reply(reply(0, at(0), 1, 1), 5, at(5));
    expect(b.samples().map((s) => s.seq)).toEqual([0]);
    expect(b.nextDeadline()).toBe(1010); // seq 1 sent at 10, timeout 1000
  });

  it("a failed send settles as lost", () => {
    const { b, seen, send } = book();
    send(0);
    b.sendFailed(0);
    expect(seen).toEqual([{ seq: 0, sent_at: 5000, rtt_ms: null, send_error_ms: 0.5 }]);
  });

  it("falls back to T4 − T1 when reflector timestamps contradict the round trip", () => {
    const { b, seen, send } = book();
    send(0);
    // T3 − T2 = 600 ms but the whole round trip took 100 ms: the reflector clock is not usable.
    b.reply(reply(0, at(0), 0, 600), 100, at(100));
    expect(seen[0]).toMatchObject({ rtt_ms: 100 });
    expect(seen[0]?.reflector_ms).toBeUndefined();
  });
});

describe("sender sizing and spacing", () => {
  it("pads so the IP packet has the configured size", () => {
    // IPv4: 100 − 20 − 8 = 72; IPv6: 100 − 40 − 8 = 52.
    expect(udpPayloadBytes(100, 4, "unauthenticated")).toBe(72);
    expect(udpPayloadBytes(100, 6, "unauthenticated")).toBe(52);
    // Never below the base packet: 60 − 28 = 32 < 44; authenticated minimum 112.
    expect(udpPayloadBytes(60, 4, "unauthenticated")).toBe(44);
    expect(udpPayloadBytes(100, 4, "authenticated")).toBe(112);
  });
});

describe("SessionBook: Follow-Up Telemetry (RFC 8972 §4.7)", () => {
  it("corrects a reply's T3 with the real transmit time its successor reports", () => {
    const { b, seen, send } = book();
    send(0);
    send(1);
    // seq 0: T1 0, T2 0.25, T3 0.5, T4 10 → RTT 9.75, reverse 9.5. It really left at 8.5: 8 ms late.
    expect(b.reply(reply(0, at(0), 0.25, 0.5), 10, at(10))).toBe("matched");
    // seq 1's reply says: your reply 0 left at 8.5. RTT 0 = (10 − 0) − (8.5 − 0.25) = 1.75, rev 1.5.
    const r1 = { ...reply(1, at(10), 10.25, 10.5), followUp: { seq: 0, timestamp: at(8.5), mode: 2 } };
    expect(b.reply(r1, 11, at(11))).toBe("matched");
    const [s0, s1] = b.samples();
    expect(s0?.rtt_ms).toBeCloseTo(1.75, 6);
    expect(s0?.reflector_ms).toBeCloseTo(8.25, 6);
    expect(s0?.rev_ms).toBeCloseTo(1.5, 6);
    expect(s0?.t3_follow_up_ms).toBeCloseTo(8, 6);
    // seq 1 has no successor: unconfirmed, as measured (11 − 10) − (10.5 − 10.25) = 0.75.
    expect(s1?.rtt_ms).toBeCloseTo(0.75, 6);
    expect(s1?.t3_follow_up_ms).toBeUndefined();
    // Live progress saw seq 0 before the correction came.
    expect(seen[0]?.rtt_ms).toBeCloseTo(9.75, 6);
    // The reflector confirms, and the latest reply waits for a follow-up: the sender's trailer asks.
    expect(b.awaitingFollowUp).toBe(true);
    // The trailer's reply says reply 1 left at 10.6: RTT (11 − 10) − (10.6 − 10.25) = 0.65.
    expect(b.followUp({ seq: 1, timestamp: at(10.6) })).toBe(true);
    expect(b.samples()[1]?.rtt_ms).toBeCloseTo(0.65, 6);
    expect(b.samples()[1]?.t3_follow_up_ms).toBeCloseTo(0.1, 6);
    expect(b.awaitingFollowUp).toBe(false);
  });

  it("asks for no trailer from a reflector that never confirmed anything", () => {
    const { b, send } = book();
    send(0);
    send(1);
    b.reply(reply(0, at(0), 0.25, 0.5), 10, at(10));
    b.reply(reply(1, at(10), 10.25, 10.5), 11, at(11));
    expect(b.awaitingFollowUp).toBe(false);
  });

  it("ignores a follow-up before T3, past T4, for an unknown reply, or a second time", () => {
    const { b, send } = book();
    send(0);
    b.reply(reply(0, at(0), 0.25, 0.5), 10, at(10));
    expect(b.followUp({ seq: 0, timestamp: at(0.4) })).toBe(false); // before T3
    expect(b.followUp({ seq: 0, timestamp: at(10.5) })).toBe(false); // would make RTT negative
    expect(b.followUp({ seq: 9, timestamp: at(1) })).toBe(false); // no such reply
    expect(b.followUp({ seq: 0, timestamp: at(1) })).toBe(true);
    expect(b.followUp({ seq: 0, timestamp: at(2) })).toBe(false); // already corrected
    expect(b.samples()[0]?.rtt_ms).toBeCloseTo(9.25, 6); // (10 − 0) − (1 − 0.25)
  });
});

describe("refusalCount: ICMP port unreachables reported for an interval", () => {
  const views = (icmp: number, send: number, recv: number) => ({
    refused_icmp: icmp,
    refused_send: send,
    refused_recv: recv,
  });

  it("one refusal heard on the error queue and again as a pending error counts once", () => {
    // Kernel socket: 4 on the error queue, 3 taken by the next send(), 1 by recvmsg() → 4, not 8.
    expect(refusalCount(views(4, 3, 1), 10, 6)).toBe(4);
    // dgram: only the pending errors.
    expect(refusalCount(views(0, 0, 3), 10, 7)).toBe(3);
  });

  it("never more than the packets that got no reply (sent − received)", () => {
    // Review case: 30 sent, 27 answered (a reflector restarting), 5 refusals heard while packets were
    // still pending, two of which were answered after all → 3, the lost count.
    expect(refusalCount(views(5, 5, 0), 30, 27)).toBe(3);
    // Everything answered: refusals of an earlier session on the same port explain nothing here.
    expect(refusalCount(views(2, 1, 0), 10, 10)).toBe(0);
    // Nothing answered, nothing refused.
    expect(refusalCount(views(0, 0, 0), 10, 0)).toBe(0);
    // Nothing answered: every loss may be a refusal, no more.
    expect(refusalCount(views(12, 11, 0), 10, 0)).toBe(10);
  });
});
