import type { Sample } from "../probe/prober.js";
import { percentileNearestRank, sortedAscending } from "./stats.js";

/**
 * Per-interval timing-error bound (issue 8): how much the measuring host itself could have added to
 * one packet's delay, so how far it could have moved max − min. Terms, all ms, each ≥ 0:
 *
 * - `event_loop_delay`: the largest lag of this thread's event loop during the run plus the sampler's
 *   resolution (host/loop-delay.ts). Counted only where timestamps are taken in JavaScript (STAMP over
 *   dgram, TCP, HTTP); ping and kernel-stamped STAMP take theirs in the kernel.
 * - `send_schedule`: p99 of actual − scheduled send time. A sender that falls behind sends bursts that
 *   queue behind each other on the path, and a late send is the same stall seen from the other side.
 * - `reflector_residence`: largest reflector residence (T3 − T2) minus the median: a reflector that
 *   held one packet far longer than the rest was busy, and its T2 may be as late (STAMP only).
 *
 * `bound` is their sum: conservative, since they could coincide on one packet. More terms (kernel TX
 * stamp fallbacks, reflector drops) are added as named keys; readers sum nothing themselves.
 */
export interface TimingError {
  bound: number;
  terms: Record<string, number>;
}

export interface TimingInputs {
  /** Event-loop bound for the run, ms; undefined when the method's timestamps are not taken in JS. */
  event_loop_delay_ms?: number | undefined;
  /** Samples of the run (send errors, reflector residence). */
  samples: readonly Sample[];
}

/** Share of the profile's DV limit a bound may reach before the interval is flagged host-timing. */
export const HOST_TIMING_SHARE = 0.1;

export function timingError(input: TimingInputs): TimingError {
  const terms: Record<string, number> = {};
  if (input.event_loop_delay_ms !== undefined)
    terms.event_loop_delay = Math.max(0, input.event_loop_delay_ms);

  const firsts = input.samples.filter((s) => s.dup !== true);
  const sendErrors = sortedAscending(
    firsts.flatMap((s) => (s.send_error_ms === undefined ? [] : [s.send_error_ms])),
  );
  const p99 = percentileNearestRank(sendErrors, 99);
  if (p99 !== null) terms.send_schedule = Math.max(0, p99);

  const residence = sortedAscending(
    firsts.flatMap((s) => (s.reflector_ms === undefined || s.rtt_ms === null ? [] : [s.reflector_ms])),
  );
  const median = percentileNearestRank(residence, 50);
  const max = residence[residence.length - 1];
  if (median !== null && max !== undefined) terms.reflector_residence = max - median;

  const bound = Object.values(terms).reduce((a, b) => a + b, 0);
  return { bound, terms };
}

/** An interval whose bound could move DV by more than 10 % of the profile's DV limit is flagged. */
export function isHostTiming(bound: number, dvLimitMs: number): boolean {
  return bound > HOST_TIMING_SHARE * dvLimitMs;
}
