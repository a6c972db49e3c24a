import type { Sample } from "../probe/prober.js";
import { percentileNearestRank, sortedAscending } from "./stats.js";

/**
 * Per-interval timing-error bound (issue 8): how much the measuring hosts themselves could have added
 * to one packet's RTT, so how far they could have moved max − min. Which host effects can reach the
 * figure depends on where the timestamps were taken (`quality.timestamps`), so the bound counts only
 * those; every other effect observed is still reported, under `not_counted`, so nothing is hidden.
 * All values in ms, each ≥ 0.
 *
 * User mode (T1–T4 taken in JavaScript: STAMP over dgram, TCP, HTTP) — every stall of a thread that
 * takes a timestamp lands in the RTT, so all of these count:
 * - `event_loop_delay`: the largest lag of this thread's event loop during the run plus the sampler's
 *   resolution (host/loop-delay.ts).
 * - `send_schedule`: p99 of actual − scheduled send time. A late send is the same stall seen from the
 *   other side, and a sender that falls behind sends bursts that queue behind each other.
 * - `reflector_residence`: largest reflector residence (T3 − T2) minus the median: a reflector that
 *   held one packet far longer than the rest was busy, and its T2 or T3 may be off by as much.
 *
 * Kernel mode (STAMP on the kernel-timestamped socket, ping): T1 is the kernel's TX stamp, T2 and T4
 * the kernel's RX stamps, so a late send, a busy event loop or a long residence changes no timestamp
 * (RTT = (T4 − T1) − (T3 − T2), RFC 8762 §4). What the kernel stamps do not cover:
 * - `t1_clock`: packets whose TX stamp never came back carry T1 = clock_gettime just before send();
 *   the kernel may have sent them later by up to the duration of that send() call. The largest such
 *   duration among them (Sample.send_call_ms).
 * - `reflector_t3`: T3 is the reflector's clock just before its sendto(); the reply may leave later if
 *   the reflector is descheduled in between (measured: up to 33 ms on a loaded 2-core host). Replies
 *   whose real transmit time the reflector confirmed (RFC 8972 §4.7 Follow-Up Telemetry,
 *   Sample.t3_follow_up_ms) are corrected exactly and move nothing. Every other reply whose T3 was
 *   subtracted is unconfirmed, whatever the reason: the interval's last reply (its follow-up would
 *   ride on a reply that never comes), a reply whose follow-up was lost, a packet too small for the
 *   TLV (Sample.follow_up_requested absent), authenticated TLVs that failed their HMAC (§4.8), a
 *   reflector that does not implement the TLV (an independent RFC 8762 reflector, our dgram one).
 *   An unconfirmed reply's true RTT lies in [rtt − G, rtt]: G = the largest correction the reflector
 *   confirmed in this interval where it confirmed any (an estimate from the same host and minute, not a
 *   guarantee); where it confirmed none there is nothing to estimate from, and the reply may have been
 *   held up to all of its excess over the interval's lowest RTT: [lowest, rtt]. The term is how far the
 *   unconfirmed replies, moved jointly within those ranges, could move RTT max − min (either way):
 *   the range of picks from intervals [a_i, b_i] is at least max(a) − min(b) and at most max(b) −
 *   min(a). So against a reflector that confirms nothing, the term is the whole max − min: none of it
 *   can be told apart from the reflector's own scheduling.
 * Reported, not counted: `send_schedule`, `reflector_residence` (as above) and `reflector_t3_corrected`
 * (the largest correction Follow-Up Telemetry applied).
 *
 * `bound` is the sum of `terms`: conservative, since they could coincide on one packet. Readers sum
 * nothing themselves.
 */
export interface TimingError {
  bound: number;
  /** The terms counted in `bound`. */
  terms: Record<string, number>;
  /** Host effects observed but unable to move this figure (their timestamps are kernel stamps). */
  not_counted: Record<string, number>;
}

export interface TimingInputs {
  /** Where the packet times were taken (ResultMessage quality.timestamps). */
  timestamps: "kernel" | "user";
  /** Event-loop bound for the run, ms; undefined when the method's timestamps are not taken in JS. */
  event_loop_delay_ms?: number | undefined;
  /** Samples of the run (send errors, reflector residence, T1 and T3 sources). */
  samples: readonly Sample[];
}

/** Share of the profile's DV limit a bound may reach before the interval is flagged host-timing. */
export const HOST_TIMING_SHARE = 0.1;

export function timingError(input: TimingInputs): TimingError {
  const firsts = input.samples.filter((s) => s.dup !== true);
  const received = firsts.filter((s) => s.rtt_ms !== null);
  const observed: Record<string, number> = {};
  if (input.event_loop_delay_ms !== undefined)
    observed.event_loop_delay = Math.max(0, input.event_loop_delay_ms);

  const sendErrors = sortedAscending(
    firsts.flatMap((s) => (s.send_error_ms === undefined ? [] : [s.send_error_ms])),
  );
  const p99 = percentileNearestRank(sendErrors, 99);
  if (p99 !== null) observed.send_schedule = Math.max(0, p99);

  const residence = sortedAscending(
    received.flatMap((s) => (s.reflector_ms === undefined ? [] : [s.reflector_ms])),
  );
  const median = percentileNearestRank(residence, 50);
  const max = residence[residence.length - 1];
  if (median !== null && max !== undefined) observed.reflector_residence = max - median;

  if (input.timestamps === "user") {
    return { bound: sum(observed), terms: observed, not_counted: {} };
  }

  const terms: Record<string, number> = {};
  const notCounted: Record<string, number> = { ...observed };

  const clockT1Calls = received.flatMap((s) =>
    s.t1_source === "clock" && s.send_call_ms !== undefined ? [s.send_call_ms] : [],
  );
  if (clockT1Calls.length > 0) terms.t1_clock = Math.max(0, ...clockT1Calls);

  const timed = received.filter((s) => s.clock_step !== true);
  const confirmed = timed.flatMap((s) => (s.t3_follow_up_ms === undefined ? [] : [s.t3_follow_up_ms]));
  const g = confirmed.length > 0 ? Math.max(0, ...confirmed) : undefined;
  if (g !== undefined) notCounted.reflector_t3_corrected = g;
  const t3 = unconfirmedT3Spread(timed, g);
  if (t3 > 0) terms.reflector_t3 = t3;
  return { bound: sum(terms), terms, not_counted: notCounted };
}

/** Whether a received reply's RTT rests on a T3 nobody confirmed (see `reflector_t3` above). */
export function t3Unconfirmed(s: Sample): boolean {
  return s.rtt_ms !== null && s.reflector_ms !== undefined && s.t3_follow_up_ms === undefined;
}

/**
 * How far RTT max − min could move if each unconfirmed reply's true RTT lay anywhere in its range
 * [rtt − G, rtt] (no G: [lowest RTT, rtt]) and the confirmed ones stayed put. O(n).
 */
function unconfirmedT3Spread(timed: readonly Sample[], g: number | undefined): number {
  const n = timed.length;
  if (n < 2) return 0;
  const high = timed.map((s) => s.rtt_ms as number); // upper ends: the RTTs observed
  const lo = Math.min(...high);
  const hi = Math.max(...high);
  const low = timed.map((s, i) => {
    const rtt = high[i] as number;
    return !t3Unconfirmed(s) ? rtt : g !== undefined ? Math.max(0, rtt - g) : lo;
  });
  // Smallest reachable max − min: max(low) − min(high), or 0 where the ranges share a point.
  const minSpread = Math.max(0, Math.max(...low) - lo);
  // Largest: one reply at the top of its range, another at the bottom of its range.
  const top = argExtremes(high, (a, b) => a > b);
  const bottom = argExtremes(low, (a, b) => a < b);
  const maxSpread =
    top.first !== bottom.first
      ? (high[top.first] as number) - (low[bottom.first] as number)
      : Math.max(
          (high[top.second] as number) - (low[bottom.first] as number),
          (high[top.first] as number) - (low[bottom.second] as number),
        );
  const spread = hi - lo;
  return Math.max(0, spread - minSpread, maxSpread - spread);
}

/** Indices of the best and second-best element of `xs` (length ≥ 2) under `better`. */
function argExtremes(xs: readonly number[], better: (a: number, b: number) => boolean) {
  let first = 0;
  let second = 1;
  if (better(xs[1] as number, xs[0] as number)) {
    first = 1;
    second = 0;
  }
  for (let i = 2; i < xs.length; i++) {
    const x = xs[i] as number;
    if (better(x, xs[first] as number)) {
      second = first;
      first = i;
    } else if (better(x, xs[second] as number)) second = i;
  }
  return { first, second };
}

function sum(terms: Record<string, number>): number {
  return Object.values(terms).reduce((a, b) => a + b, 0);
}

/** An interval whose bound could move DV by more than 10 % of the profile's DV limit is flagged. */
export function isHostTiming(bound: number, dvLimitMs: number): boolean {
  return bound > HOST_TIMING_SHARE * dvLimitMs;
}
