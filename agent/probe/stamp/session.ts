import type { Sample } from "../prober.js";
import { decodeErrorEstimate, errorEstimateMs } from "./error-estimate.js";
import { type NtpTime, ntpDiffMs } from "./ntp.js";
import type { ParsedReflectorPacket } from "./packet.js";

/** What the sender knows about one packet it put on the wire. */
export interface SentPacket {
  seq: number;
  /** Monotonic send time (T1 on the monotonic scale). */
  sentMono: number;
  /** T1 exactly as written into the packet. */
  t1: NtpTime;
  /** Wall-clock send time, epoch ms, for the sample. */
  sentAtMs: number;
  /** Actual − scheduled send time, ms. */
  sendErrorMs: number;
}

/** How one reply was judged; the sender logs the counts. */
export type ReplyVerdict = "matched" | "late" | "duplicate" | "unknown-seq" | "mismatched-timestamp";

interface Entry {
  sent: SentPacket;
  sample: Sample;
  settled: boolean;
  replied: boolean;
  /** The matched reply's T2, T3 and RTT before any correction (for Follow-Up Telemetry). */
  timed?: { t2: NtpTime; t3: NtpTime; rttMs: number };
}

/**
 * The bookkeeping of one STAMP session, free of sockets and timers so it can be tested with plain
 * numbers. Every sent packet settles exactly once (reply, loss timeout or send failure) and is then
 * handed to `onSample`; extra replies become `dup` samples; a reply after the loss timeout marks the
 * packet `late` but it stays lost.
 */
export class SessionBook {
  private readonly entries = new Map<number, Entry>();
  private readonly pending = new Map<number, Entry>();
  private readonly extra: Sample[] = [];
  private arrivals = 0;
  /** Reflector Sequence Number → our Sequence Number, from matched replies (they differ when stateful). */
  private readonly byReflectorSeq = new Map<number, number>();
  /** The most recently arrived reply whose T3 was subtracted: the one a later follow-up would confirm. */
  private latestTimed: Entry | undefined;
  /** Some follow-up of this session corrected a reply: the reflector implements the TLV. */
  private confirmedAny = false;

  constructor(
    private readonly lossTimeoutMs: number,
    /** Our own clock is synchronised (ctx.clockSync.synced). */
    private readonly localSynced: boolean,
    private readonly onSample?: (s: Sample) => void,
  ) {}

  sent(p: SentPacket): void {
    const entry: Entry = {
      sent: p,
      sample: { seq: p.seq, sent_at: p.sentAtMs, rtt_ms: null, send_error_ms: p.sendErrorMs },
      settled: false,
      replied: false,
    };
    this.entries.set(p.seq, entry);
    this.pending.set(p.seq, entry);
  }

  /**
   * The send call failed: the packet never left, which is loss as far as the path is concerned
   * (no route is an outage). `reason` is the errno name, kept on the sample.
   */
  sendFailed(seq: number, reason?: string): void {
    const entry = this.pending.get(seq);
    if (!entry) return;
    if (reason) entry.sample = { ...entry.sample, send_error: reason };
    this.settle(entry);
  }

  /**
   * A parsed reply arrived at monotonic time `t4Mono`, which is `t4` on the NTP scale (the same
   * anchor as T1, so T4 − T1 is exactly the monotonic interval).
   */
  reply(r: ParsedReflectorPacket, t4Mono: number, t4: NtpTime): ReplyVerdict {
    const entry = this.entries.get(r.senderSeq);
    if (!entry) return "unknown-seq";
    return this.judge(r, entry, t4Mono - entry.sent.sentMono, entry.sent.t1, t4, {});
  }

  /**
   * A parsed reply whose round trip the caller measured itself from kernel timestamps:
   * `roundTripMs` = T4 − T1, `t1` the T1 behind it (the kernel TX stamp where there was one), `t4` the
   * kernel RX stamp; `extra` (how each was taken) goes onto the sample.
   */
  replyMeasured(
    r: ParsedReflectorPacket,
    m: { roundTripMs: number; t1: NtpTime; t4: NtpTime; extra: Partial<Sample> },
  ): ReplyVerdict {
    const entry = this.entries.get(r.senderSeq);
    if (!entry) return "unknown-seq";
    return this.judge(r, entry, m.roundTripMs, m.t1, m.t4, m.extra);
  }

  private judge(
    r: ParsedReflectorPacket,
    entry: Entry,
    roundTripMs: number,
    t1Timing: NtpTime,
    t4: NtpTime,
    extra: Partial<Sample>,
  ): ReplyVerdict {
    const t1 = entry.sent.t1;
    // A reflector that echoes T1 lets us reject a stray reply that only shares the sequence number.
    if (
      r.senderTimestamp &&
      (r.senderTimestamp.seconds !== t1.seconds || r.senderTimestamp.fraction !== t1.fraction)
    ) {
      return "mismatched-timestamp";
    }
    const late = roundTripMs > this.lossTimeoutMs;
    const timing = late ? undefined : this.timing(r, roundTripMs, t1Timing, t4);
    const remote = decodeErrorEstimate(r.errorEstimate).synced;

    if (entry.replied) {
      const dup: Sample = { seq: entry.sent.seq, sent_at: entry.sent.sentAtMs, rtt_ms: null, dup: true };
      if (timing) Object.assign(dup, timing, extra, { arrival: this.arrivals++ });
      else dup.late = true;
      this.extra.push(dup);
      this.onSample?.(dup);
      return "duplicate";
    }
    entry.replied = true;
    if (late || entry.settled) {
      // Settled (or about to be) as lost; the flag records that the reply did come, too late.
      entry.sample = { ...entry.sample, late: true, remote_synced: remote };
      if (!entry.settled) this.settle(entry);
      return "late";
    }
    entry.sample = { ...entry.sample, ...timing, ...extra, remote_synced: remote, arrival: this.arrivals++ };
    if (timing?.reflector_ms !== undefined && timing.rtt_ms !== null) {
      entry.timed = { t2: r.receiveTimestamp, t3: r.timestamp, rttMs: timing.rtt_ms };
      this.byReflectorSeq.set(r.seq >>> 0, entry.sent.seq);
      this.latestTimed = entry;
    }
    if (r.followUp) this.followUp(r.followUp);
    this.settle(entry);
    return "matched";
  }

  /**
   * RFC 8972 §4.7 Follow-Up Telemetry: the reflector says its reply with Sequence Number `f.seq` really
   * left at `f.timestamp`, not at the T3 it carried. That reply's RTT becomes (T4 − T1) − (T3' − T2)
   * with T3' the real transmit time: the time the reflector spent between reading its clock and the
   * send is its own, not the path's. The correction is kept on the sample (t3_follow_up_ms) and the
   * one-way reverse delay moves with it. Ignored when it names no reply we timed, when T3' is before
   * T3 (a stamp cannot precede the clock read before the send), or when it would leave a negative RTT.
   * `onSample` has already seen the sample uncorrected (live progress only); samples() returns it
   * corrected. Returns whether a sample was corrected.
   */
  followUp(f: { seq: number; timestamp: NtpTime }): boolean {
    const ours = this.byReflectorSeq.get(f.seq >>> 0);
    const entry = ours === undefined ? undefined : this.entries.get(ours);
    const timed = entry?.timed;
    if (!entry || !timed || entry.sample.t3_follow_up_ms !== undefined) return false;
    const gapMs = ntpDiffMs(f.timestamp, timed.t3);
    if (!(gapMs >= 0) || gapMs > timed.rttMs) return false;
    const s = entry.sample;
    entry.sample = {
      ...s,
      rtt_ms: timed.rttMs - gapMs,
      reflector_ms: ntpDiffMs(f.timestamp, timed.t2),
      ...(s.rev_ms !== undefined ? { rev_ms: s.rev_ms - gapMs } : {}),
      t3_follow_up_ms: gapMs,
    };
    this.confirmedAny = true;
    return true;
  }

  /**
   * The latest reply's T3 is still unconfirmed, and the reflector has confirmed others in this session
   * (it implements Follow-Up Telemetry): only a reply after it can carry its follow-up (the sender's
   * trailer packet asks for one). A reflector that never confirmed anything is not sent a trailer.
   */
  get awaitingFollowUp(): boolean {
    return (
      this.confirmedAny &&
      this.latestTimed !== undefined &&
      this.latestTimed.sample.t3_follow_up_ms === undefined
    );
  }

  /** Settle as lost every pending packet whose loss timeout has passed at `nowMono`. */
  expire(nowMono: number): void {
    for (const entry of this.pending.values()) {
      // Pending is in send order and the timeout is fixed, so deadlines are in order too.
      if (entry.sent.sentMono + this.lossTimeoutMs > nowMono) break;
      this.settle(entry);
    }
  }

  /** Monotonic time at which the oldest pending packet times out, if any is pending. */
  nextDeadline(): number | undefined {
    const first = this.pending.values().next().value;
    return first ? first.sent.sentMono + this.lossTimeoutMs : undefined;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Samples sorted by seq, duplicates after their original. Packets still in flight (an aborted
   * run) are left out: their fate is unknown, and counting them lost would invent loss.
   */
  samples(): Sample[] {
    const settled = [...this.entries.values()].filter((e) => e.settled).map((e) => e.sample);
    const all = [...settled, ...this.extra];
    return all.sort((a, b) => a.seq - b.seq || Number(a.dup ?? false) - Number(b.dup ?? false));
  }

  private settle(entry: Entry): void {
    entry.settled = true;
    this.pending.delete(entry.sent.seq);
    this.onSample?.(entry.sample);
  }

  /**
   * RTT = (T4 − T1) − (T3 − T2), RFC 8762 §4; one-way delays computed when both clocks say synced,
   * with the reflector's stated error beside them (the summary decides whether they are reported).
   */
  private timing(
    r: ParsedReflectorPacket,
    roundTripMs: number,
    t1: NtpTime,
    t4: NtpTime,
  ): Pick<Sample, "rtt_ms" | "reflector_ms" | "fwd_ms" | "rev_ms" | "remote_error_ms"> {
    const reflectorMs = ntpDiffMs(r.timestamp, r.receiveTimestamp);
    if (!(reflectorMs >= 0 && reflectorMs <= roundTripMs)) {
      // Reflector timestamps that contradict our own interval cannot be subtracted; keep T4 − T1.
      return { rtt_ms: roundTripMs };
    }
    const out: Pick<Sample, "rtt_ms" | "reflector_ms" | "fwd_ms" | "rev_ms" | "remote_error_ms"> = {
      rtt_ms: roundTripMs - reflectorMs,
      reflector_ms: reflectorMs,
    };
    const remote = decodeErrorEstimate(r.errorEstimate);
    if (this.localSynced && remote.synced) {
      out.fwd_ms = ntpDiffMs(r.receiveTimestamp, t1);
      out.rev_ms = ntpDiffMs(t4, r.timestamp);
      // Whether these may be reported depends on both bounds (metrics/one-way-gate.ts).
      out.remote_error_ms = errorEstimateMs(remote);
    }
    return out;
  }
}
