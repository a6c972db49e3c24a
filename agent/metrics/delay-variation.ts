import type { Sample } from "../probe/prober.js";
import type { DelayVariation } from "../publish/message.js";
import { mean, minMax, percentileNearestRank, sortedAscending } from "./stats.js";

/** A received packet reduced to what delay variation needs: its sequence number, arrival and delay. */
interface Delay {
  seq: number;
  arrival: number | undefined;
  delay_ms: number;
}

/** Delay variation is a spread between packets: fewer received than this and every figure is null. */
export const MIN_PACKETS_FOR_DV = 2;

/**
 * The delay-variation block. One delay series feeds all four numbers: one-way forward delays when the
 * clocks allow one-way delays (one-way-gate.ts) and every received packet has one, otherwise round-trip
 * times (which need no clock agreement). `received` must hold only received, non-duplicate, non-late
 * samples. With fewer than two of them every figure is null and `null_reason` says so (issue 9: an
 * interval with one received packet must not read DV 0 and pass).
 */
export function delayVariation(received: readonly Sample[], oneWayAllowed: boolean): DelayVariation {
  const oneWay = oneWayAllowed && received.length > 0 && received.every((s) => s.fwd_ms !== undefined);
  const basis: DelayVariation["basis"] = oneWay ? "one-way-forward" : "round-trip";
  const delays: Delay[] = [];
  for (const s of received) {
    const d = oneWay ? s.fwd_ms : s.rtt_ms;
    if (d === undefined || d === null) continue;
    delays.push({ seq: s.seq, arrival: s.arrival, delay_ms: d });
  }
  const values = delays.map((d) => d.delay_ms);
  if (values.length < MIN_PACKETS_FOR_DV) {
    return {
      max_minus_min: null,
      basis,
      ipdv_mean_abs: null,
      pdv_p99: null,
      jitter_rfc3550: null,
      null_reason: `fewer than ${MIN_PACKETS_FOR_DV} packets received`,
    };
  }
  const range = minMax(values);
  return {
    // Spec 3.2.2.2 / 4.2.3: maximum − minimum transfer delay within the interval.
    max_minus_min: range ? range.max - range.min : null,
    basis,
    ipdv_mean_abs: ipdvMeanAbs(delays),
    pdv_p99: range ? pdvPercentile(values, range.min, 99) : null,
    jitter_rfc3550: jitterRfc3550(delays),
  };
}

/**
 * RFC 3393 IPDV with the selection function "consecutive packets": for sequence numbers i and i + 1
 * that were both received, ipdv = D(i + 1) − D(i). A pair with a lost member has no ipdv (RFC 3393
 * §4.1), so it is skipped rather than bridged. Returns the mean of |ipdv|, null without any pair.
 */
export function ipdvMeanAbs(delays: readonly Delay[]): number | null {
  const bySeq = [...delays].sort((a, b) => a.seq - b.seq);
  const diffs: number[] = [];
  for (let i = 1; i < bySeq.length; i++) {
    const prev = bySeq[i - 1];
    const cur = bySeq[i];
    if (prev && cur && cur.seq === prev.seq + 1) diffs.push(Math.abs(cur.delay_ms - prev.delay_ms));
  }
  return mean(diffs);
}

/**
 * RFC 5481 PDV: each packet's delay minus the minimum delay of the sample, D(i) − D(min), then a
 * high percentile of that distribution (nearest rank, as everywhere). Lost packets have no delay and
 * are left out of the population.
 */
export function pdvPercentile(values: readonly number[], minDelay: number, p: number): number | null {
  return percentileNearestRank(sortedAscending(values.map((v) => v - minDelay)), p);
}

/**
 * RFC 3550 §6.4.1 interarrival jitter: in order of arrival (not sequence), with D the difference of
 * consecutive packets' transit times, J ← J + (|D| − J) / 16, starting from J = 0. The transit time
 * of an RTT probe is its RTT. Arrival order comes from `arrival` when every packet carries it, else
 * sequence order stands in. Value after the last packet; null with fewer than two packets.
 */
export function jitterRfc3550(delays: readonly Delay[]): number | null {
  if (delays.length < 2) return null;
  const byArrival = delays.every((d) => d.arrival !== undefined)
    ? [...delays].sort((a, b) => (a.arrival ?? 0) - (b.arrival ?? 0))
    : [...delays].sort((a, b) => a.seq - b.seq);
  let j = 0;
  for (let i = 1; i < byArrival.length; i++) {
    const prev = byArrival[i - 1];
    const cur = byArrival[i];
    if (!prev || !cur) continue;
    j += (Math.abs(cur.delay_ms - prev.delay_ms) - j) / 16;
  }
  return j;
}
