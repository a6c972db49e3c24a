import type {
  DelayVariation,
  IntervalVerdictValue,
  Packets,
  ProfileId,
  RttStats,
  Verdicts,
  VerdictValue,
} from "../publish/message.js";
import { type Indicator, PROFILE_THRESHOLDS } from "./thresholds.js";

/**
 * Limits are inclusive ("≤ 200 ms": exactly 200 passes). Means of ratios pick up floating-point
 * noise (0.02 can come out as 0.020000000000000004), so a value within a relative 1e-9 of the limit
 * counts as on it; no measurement is that precise anyway.
 */
const RELATIVE_TOLERANCE = 1e-9;

/** Judge one value against one limit; null (nothing to judge) is "insufficient". */
export function judgeValue(
  value: number | null,
  indicator: Pick<Indicator, "limit" | "bound">,
): VerdictValue {
  if (value === null || !Number.isFinite(value)) return "insufficient";
  const slack = Math.abs(indicator.limit) * RELATIVE_TOLERANCE;
  const ok = indicator.bound === "max" ? value <= indicator.limit + slack : value >= indicator.limit - slack;
  return ok ? "pass" : "fail";
}

/** The parts of one interval's summary a verdict needs (a full Summary or ResultMessage fits). */
export interface IntervalInput {
  packets: Pick<Packets, "sent" | "received">;
  loss_ratio: number | null;
  rtt_ms: Pick<RttStats, "mean">;
  delay_variation_ms: Pick<DelayVariation, "max_minus_min">;
  one_way_ms: { forward: { mean: number | null } } | null;
}

/**
 * Verdicts for one measurement interval. Delay and delay variation are insufficient when nothing was
 * received, loss when nothing was sent. The voip-4.2 delay limit is one-way: the forward one-way mean
 * when clocks allowed one, otherwise half the mean RTT (labelled "round-trip-half").
 */
export function judgeInterval(profile: ProfileId, input: IntervalInput): Verdicts {
  const t = PROFILE_THRESHOLDS[profile];
  const anyReceived = input.packets.received > 0;
  const delay = delayToJudge(t.delay_kind, input.rtt_ms.mean, input.one_way_ms?.forward.mean ?? null);
  return {
    profile,
    delay_basis: delay.basis,
    rtt: judgeValue(anyReceived ? delay.value : null, t.indicators.delay),
    delay_variation: judgeValue(
      anyReceived ? input.delay_variation_ms.max_minus_min : null,
      t.indicators.delay_variation,
    ),
    loss: judgeValue(input.packets.sent > 0 ? input.loss_ratio : null, t.indicators.loss),
  };
}

/**
 * Flags that keep an interval's verdicts out, and which: the host may have made the delay figures
 * (host-timing: its timing-error bound could move DV by > 10 % of the limit; clock-step: RTTs cross a
 * wall-clock step), nothing measured the path at all (fault), or the interval is not the path the
 * config names (rtt-below-light-bound: faster than light over the configured distance, so the target is
 * elsewhere — loopback, a proxy) or not a whole interval (aborted). Loss survives the timing flags: a
 * packet that came back came back. The last two keep every verdict out, as the collector's
 * INTEGRITY_FLAGS do (collector/windows.ts). These intervals are still published and counted.
 */
export const EXCLUDING_FLAGS: Record<string, ReadonlyArray<"rtt" | "delay_variation" | "loss">> = {
  "host-timing": ["rtt", "delay_variation"],
  "clock-step": ["rtt", "delay_variation"],
  fault: ["rtt", "delay_variation", "loss"],
  "rtt-below-light-bound": ["rtt", "delay_variation", "loss"],
  aborted: ["rtt", "delay_variation", "loss"],
};

/** judgeInterval, then "not-judged" for every verdict an excluding flag covers, naming the flags. */
export function judgeFlaggedInterval(
  profile: ProfileId,
  input: IntervalInput,
  flags: readonly string[],
): Verdicts {
  const judged = judgeInterval(profile, input);
  const out: Verdicts = { ...judged };
  const reasons = flags.filter((f) => EXCLUDING_FLAGS[f] !== undefined);
  for (const flag of reasons) {
    for (const which of EXCLUDING_FLAGS[flag] ?? []) out[which] = "not-judged" satisfies IntervalVerdictValue;
  }
  if (reasons.length > 0) out.not_judged = reasons;
  return out;
}

/** Means over a reporting period (e.g. a month), as the collector's rollups compute them. */
export interface MeansInput {
  /** Mean over intervals of the per-interval mean RTT. */
  mean_rtt_ms: number | null;
  /** Mean over intervals of the per-interval max − min delay. */
  mean_dv_ms: number | null;
  mean_loss_ratio: number | null;
  /** Available / measured 5-minute windows (availability.ts). */
  availability_ratio: number | null;
  /** voip-4.2: mean one-way forward delay, when intervals had one; preferred over RTT / 2. */
  mean_one_way_ms?: number | null;
}

export interface RollupVerdicts {
  profile: ProfileId;
  delay_basis: Verdicts["delay_basis"];
  /** The delay value that was judged (mean RTT, one-way mean or RTT / 2). */
  delay_ms: number | null;
  rtt: VerdictValue;
  delay_variation: VerdictValue;
  loss: VerdictValue;
  /** null when the profile sets no availability requirement (voip-4.2). */
  availability: VerdictValue | null;
}

/** Verdicts for a reporting period from its means; a missing mean is "insufficient". */
export function judgeMeans(profile: ProfileId, input: MeansInput): RollupVerdicts {
  const t = PROFILE_THRESHOLDS[profile];
  const delay = delayToJudge(t.delay_kind, input.mean_rtt_ms, input.mean_one_way_ms ?? null);
  const availability = t.indicators.availability;
  return {
    profile,
    delay_basis: delay.basis,
    delay_ms: delay.value,
    rtt: judgeValue(delay.value, t.indicators.delay),
    delay_variation: judgeValue(input.mean_dv_ms, t.indicators.delay_variation),
    loss: judgeValue(input.mean_loss_ratio, t.indicators.loss),
    availability: availability ? judgeValue(input.availability_ratio, availability) : null,
  };
}

/** Which delay a profile judges, and from what: RTT as is, one-way, or half the RTT as a stand-in. */
function delayToJudge(
  kind: "round-trip" | "one-way",
  rttMs: number | null,
  oneWayMs: number | null,
): { basis: Verdicts["delay_basis"]; value: number | null } {
  if (kind === "round-trip") return { basis: "round-trip", value: rttMs };
  if (oneWayMs !== null) return { basis: "one-way", value: oneWayMs };
  return { basis: "round-trip-half", value: rttMs === null ? null : rttMs / 2 };
}
