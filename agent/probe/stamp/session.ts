import type { Sample } from "../prober.js";
import { decodeErrorEstimate } from "./error-estimate.js";
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
    this.settle(entry);
    return "matched";
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

  /** RTT = (T4 − T1) − (T3 − T2), RFC 8762 §4; one-way delays only when both clocks are synced. */
  private timing(
    r: ParsedReflectorPacket,
    roundTripMs: number,
    t1: NtpTime,
    t4: NtpTime,
  ): Pick<Sample, "rtt_ms" | "reflector_ms" | "fwd_ms" | "rev_ms"> {
    const reflectorMs = ntpDiffMs(r.timestamp, r.receiveTimestamp);
    if (!(reflectorMs >= 0 && reflectorMs <= roundTripMs)) {
      // Reflector timestamps that contradict our own interval cannot be subtracted; keep T4 − T1.
      return { rtt_ms: roundTripMs };
    }
    const out: Pick<Sample, "rtt_ms" | "reflector_ms" | "fwd_ms" | "rev_ms"> = {
      rtt_ms: roundTripMs - reflectorMs,
      reflector_ms: reflectorMs,
    };
    if (this.localSynced && decodeErrorEstimate(r.errorEstimate).synced) {
      out.fwd_ms = ntpDiffMs(r.receiveTimestamp, t1);
      out.rev_ms = ntpDiffMs(t4, r.timestamp);
    }
    return out;
  }
}
