import { judgeMeans, type RollupVerdicts } from "../agent/compliance/verdict.js";
import { QosProbeError } from "../agent/errors.js";
import {
  type AvailabilitySummary,
  classifyWindows,
  type IntervalLoss,
  summarizeAvailability,
} from "../agent/metrics/availability.js";
import { mean, percentileNearestRank, sortedAscending } from "../agent/metrics/stats.js";
import type { Method } from "../agent/probe/prober.js";
import type { ProfileId, ResultMessage } from "../agent/publish/message.js";

/**
 * Compliance rollups: the spec's "mean ≤ X" is the mean over all measurement intervals in the
 * reporting period of the per-interval value, so every mean here is a mean of per-interval values.
 * Pure: results in, rollups out; no store, no clock.
 */

export type RollupPeriod = "hour" | "day" | "month" | "all";
export type DvBasisName = ResultMessage["delay_variation_ms"]["basis"];

export interface RollupOptions {
  /** Inclusive start of the reporting range, epoch ms. */
  from_ms: number;
  /** Exclusive end of the reporting range, epoch ms. */
  to_ms: number;
  period: RollupPeriod;
  /** Diagnostic runs (ad-hoc tests, not the regulator's schedule) are left out unless asked for. */
  include_diagnostic?: boolean;
}

/** What one rollup row is about: one operator's one direction of one pair, one profile, one method. */
export interface PairKey {
  operator: string;
  from_site: string;
  from_province: string;
  /** The peer site id, or the raw target string when the test has no peer site. */
  to: string;
  to_kind: "site" | "target";
  to_province: string | null;
  profile: ProfileId;
  method: Method;
}

export interface PairRollup extends PairKey {
  period: RollupPeriod;
  /** The bucket, clipped to the reporting range: [bucket_start_ms, bucket_end_ms). */
  bucket_start_ms: number;
  bucket_end_ms: number;
  /** Great-circle distance the agent reported for the pair (last one seen), if any. */
  distance_km: number | null;
  /** Measurement intervals that started in the bucket, errors included. */
  intervals: number;
  error_intervals: number;
  packets: { sent: number; lost: number };
  /** Mean of per-interval mean RTTs; intervals without an RTT are counted above but left out here. */
  mean_rtt_ms: number | null;
  rtt_intervals: number;
  /** 95th percentile (nearest rank) of the per-interval mean RTTs. */
  p95_rtt_ms: number | null;
  /** Mean of per-interval max − min delay (spec 3.2.2.2), over the bases listed in `dv_bases`. */
  mean_dv_ms: number | null;
  dv_intervals: number;
  dv_bases: DvBasisName[];
  /** Mean of per-interval loss ratios: what the spec's "mean loss ratio" asks for. */
  mean_loss_ratio: number | null;
  loss_intervals: number;
  /** Σ lost / Σ sent over the bucket, for comparison only: it weights busy intervals more. */
  pooled_loss_ratio: number | null;
  /** Mean forward one-way delay, only when every interval with an RTT also had a synced one-way mean. */
  mean_one_way_ms: number | null;
  availability: AvailabilitySummary;
  verdicts: RollupVerdicts;
}

interface Interval {
  result: ResultMessage;
  start_ms: number;
  end_ms: number;
}

interface Group {
  key: PairKey;
  /** Sorted by start once all results are in, so each bucket finds its intervals by binary search. */
  intervals: Interval[];
  longest_ms: number;
}

export function rollup(results: readonly ResultMessage[], opts: RollupOptions): PairRollup[] {
  const { from_ms, to_ms } = opts;
  if (!Number.isFinite(from_ms) || !Number.isFinite(to_ms) || to_ms <= from_ms) {
    throw new QosProbeError("USAGE", `rollup range is empty or reversed: ${from_ms} → ${to_ms}`);
  }
  const groups = new Map<string, Group>();
  for (const result of results) {
    if (!opts.include_diagnostic && isDiagnostic(result)) continue;
    const start_ms = Date.parse(result.interval.start);
    const end_ms = Date.parse(result.interval.end);
    // Kept if it overlaps the range: the overlap feeds availability even when the start is outside.
    if (end_ms <= from_ms || start_ms >= to_ms) continue;
    const key = pairKey(result);
    const id = pairKeyId(key);
    let group = groups.get(id);
    if (!group) {
      group = { key, intervals: [], longest_ms: 0 };
      groups.set(id, group);
    }
    group.intervals.push({ result, start_ms, end_ms });
    group.longest_ms = Math.max(group.longest_ms, end_ms - start_ms);
  }
  for (const group of groups.values()) group.intervals.sort((a, b) => a.start_ms - b.start_ms);

  const buckets = bucketsOf(opts.period, from_ms, to_ms);
  const out: PairRollup[] = [];
  const sorted = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, group] of sorted) {
    // Every bucket of the range gets a row, also one with no probes: a gap must show, not vanish.
    for (const [bStart, bEnd] of buckets) out.push(rollupBucket(group, opts.period, bStart, bEnd));
  }
  return out;
}

/** Diagnostic runs are marked in the test block; the quality flag is the same fact, accepted too. */
export function isDiagnostic(result: ResultMessage): boolean {
  return result.test.diagnostic || result.quality.flags.includes("diagnostic");
}

function pairKey(r: ResultMessage): PairKey {
  const peer = r.test.peer;
  return {
    operator: r.agent.operator,
    from_site: r.agent.site,
    from_province: r.agent.province,
    to: peer ? peer.site : r.test.target,
    to_kind: peer ? "site" : "target",
    to_province: peer ? peer.province : null,
    profile: r.verdicts.profile,
    method: r.test.method,
  };
}

/**
 * Provinces are descriptive, not identity: a site id is unique per operator (DESIGN.md). The order of
 * the parts is the report's row order: operator, from, to, profile, method.
 */
export function pairKeyId(k: PairKey): string {
  return JSON.stringify([k.operator, k.from_site, k.to, k.to_kind, k.profile, k.method]);
}

function rollupBucket(group: Group, period: RollupPeriod, bStart: number, bEnd: number): PairRollup {
  // Means: intervals that start in the bucket, so each interval counts in exactly one bucket.
  const own = group.intervals.slice(
    firstStartingAt(group.intervals, bStart),
    firstStartingAt(group.intervals, bEnd),
  );
  let sent = 0;
  let lost = 0;
  let errors = 0;
  let distance_km: number | null = null;
  const rtts: number[] = [];
  const dvs: number[] = [];
  const bases = new Set<DvBasisName>();
  const losses: number[] = [];
  const oneWays: number[] = [];
  for (const { result: r } of own) {
    if (r.status === "error") errors += 1;
    if (r.test.distance_km !== undefined) distance_km = r.test.distance_km;
    sent += r.packets.sent;
    lost += r.packets.lost;
    if (r.rtt_ms.mean !== null) {
      rtts.push(r.rtt_ms.mean);
      const fwd = r.one_way_ms?.clock_synced ? r.one_way_ms.forward.mean : null;
      if (fwd !== null) oneWays.push(fwd);
    }
    if (r.delay_variation_ms.max_minus_min !== null) {
      dvs.push(r.delay_variation_ms.max_minus_min);
      bases.add(r.delay_variation_ms.basis);
    }
    if (r.packets.sent > 0 && r.loss_ratio !== null) losses.push(r.loss_ratio);
  }

  // Availability: every interval overlapping the bucket, split by time across 5-minute windows.
  // An interval starting before the bucket can reach into it by at most the longest interval's length.
  const loss: IntervalLoss[] = group.intervals
    .slice(
      firstStartingAt(group.intervals, bStart - group.longest_ms),
      firstStartingAt(group.intervals, bEnd),
    )
    .filter((iv) => iv.end_ms > bStart)
    .map((iv) => ({
      start_ms: iv.start_ms,
      end_ms: iv.end_ms,
      sent: iv.result.packets.sent,
      lost: iv.result.packets.lost,
    }));
  const availability = summarizeAvailability(classifyWindows(loss, bStart, bEnd));

  const mean_rtt_ms = mean(rtts);
  const mean_dv_ms = mean(dvs);
  const mean_loss_ratio = mean(losses);
  // Mixing one-way means from some intervals with RTT / 2 from others would judge a blend of two
  // quantities; use one-way only when it covers every interval that has a delay at all.
  const mean_one_way_ms = oneWays.length > 0 && oneWays.length === rtts.length ? mean(oneWays) : null;
  return {
    ...group.key,
    period,
    bucket_start_ms: bStart,
    bucket_end_ms: bEnd,
    distance_km,
    intervals: own.length,
    error_intervals: errors,
    packets: { sent, lost },
    mean_rtt_ms,
    rtt_intervals: rtts.length,
    p95_rtt_ms: percentileNearestRank(sortedAscending(rtts), 95),
    mean_dv_ms,
    dv_intervals: dvs.length,
    dv_bases: [...bases].sort(),
    mean_loss_ratio,
    loss_intervals: losses.length,
    pooled_loss_ratio: sent > 0 ? lost / sent : null,
    mean_one_way_ms,
    availability,
    verdicts: judgeMeans(group.key.profile, {
      mean_rtt_ms,
      mean_dv_ms,
      mean_loss_ratio,
      availability_ratio: availability.ratio,
      mean_one_way_ms,
    }),
  };
}

/** Index of the first interval with start_ms ≥ t (intervals sorted by start); length if none. */
function firstStartingAt(intervals: readonly Interval[], t: number): number {
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((intervals[mid]?.start_ms ?? Number.POSITIVE_INFINITY) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * UTC-aligned buckets covering [from_ms, to_ms), each clipped to the range so a partial first or last
 * bucket only judges time that was asked for. Months are calendar months (28–31 days).
 */
export function bucketsOf(period: RollupPeriod, from_ms: number, to_ms: number): Array<[number, number]> {
  if (period === "all") return [[from_ms, to_ms]];
  const out: Array<[number, number]> = [];
  let start = bucketStart(period, from_ms);
  while (start < to_ms) {
    const end = nextBucketStart(period, start);
    out.push([Math.max(start, from_ms), Math.min(end, to_ms)]);
    start = end;
  }
  return out;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function bucketStart(period: Exclude<RollupPeriod, "all">, t: number): number {
  if (period === "hour") return Math.floor(t / HOUR_MS) * HOUR_MS;
  if (period === "day") return Math.floor(t / DAY_MS) * DAY_MS;
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextBucketStart(period: Exclude<RollupPeriod, "all">, start: number): number {
  if (period === "hour") return start + HOUR_MS;
  if (period === "day") return start + DAY_MS;
  const d = new Date(start);
  // Date.UTC rolls month 12 over into January of the next year.
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
