import { judgeMeans, type RollupVerdicts } from "../agent/compliance/verdict.js";
import { QosProbeError } from "../agent/errors.js";
import { applyCoverage, type Coverage, coverageOf, expectedWindows } from "./coverage.js";
import { nextUnitStart, unitStart } from "./timezone.js";
import {
  addSums,
  type IntervalSums,
  type KeyAttributes,
  keyId,
  type RollupKey,
  WINDOW_MS,
  type WindowRow,
  windowAvailable,
  windowMeasured,
  zeroSums,
} from "./windows.js";

/**
 * Compliance rollups from window aggregates. The spec's "mean ≤ X" is the mean over all measurement
 * intervals of the per-interval value (SPEC 3.2.2), so every mean is Σ value / n over the intervals
 * that may be judged: the store sums them per 5-minute window, buckets sum windows, and all of it is
 * additive, so an hour, a day or a month is the sum of its parts. Pure: aggregates in, rollups out.
 */

export type RollupPeriod = "hour" | "day" | "month" | "all";
export type CalendarPeriod = Exclude<RollupPeriod, "all">;
export type DvBasisName = "round-trip" | "one-way-forward" | "one-way-reverse";

/** One bucket, clipped to the reporting range: [start_ms, end_ms). */
export interface Bucket {
  start_ms: number;
  end_ms: number;
}

/** Window sums of one rollup key over one bucket (the store's report query returns these). */
export interface AggregateRow extends RollupKey, KeyAttributes, IntervalSums {
  /** Index into the bucket list the aggregate was made for. */
  bucket: number;
  /** Windows measured (probes covered ≥ half), and of those the available ones. */
  measured: number;
  available: number;
}

export interface AvailabilityCounts {
  /** Expected windows (the coverage denominator). */
  windows: number;
  available: number;
  unavailable: number;
  /** Expected but not measured: never available, never hidden. */
  unmeasured: number;
  /** available / measured; null when nothing was measured. */
  ratio: number | null;
}

export interface DvFigure {
  mean_ms: number | null;
  intervals: number;
}

export interface PairRollup extends RollupKey, KeyAttributes {
  period: RollupPeriod;
  bucket_start_ms: number;
  bucket_end_ms: number;
  /** Non-diagnostic intervals that started in the bucket, whatever their status. */
  intervals: number;
  error_intervals: number;
  fault_intervals: number;
  diagnostic_intervals: number;
  /** Intervals kept out of verdicts by their quality flags, counted beside the means. */
  flagged: { integrity: number; timing: number; unsynced: number };
  /** Intervals with one received packet: no delay variation. */
  dv_excluded_few: number;
  packets: { sent: number; lost: number };
  mean_rtt_ms: number | null;
  rtt_intervals: number;
  /** Delay variation per basis: one-way and round-trip are never averaged together. */
  dv: Record<DvBasisName, DvFigure>;
  /** The basis the DV verdict judged (the one with the most intervals; round trip on a tie). */
  dv_basis: DvBasisName | null;
  mean_dv_ms: number | null;
  dv_intervals: number;
  mean_loss_ratio: number | null;
  loss_intervals: number;
  /** Σ lost / Σ sent, for comparison only. */
  pooled_loss_ratio: number | null;
  /** Mean synced forward one-way delay; only when every interval with an RTT had one. */
  mean_one_way_ms: number | null;
  coverage: Coverage;
  availability: AvailabilityCounts;
  verdicts: RollupVerdicts;
}

const UNITS: Record<CalendarPeriod, true> = { hour: true, day: true, month: true };
/** Coarsest first: the order in which periods nest. */
export const PERIOD_ORDER: readonly RollupPeriod[] = ["hour", "day", "month", "all"];

/**
 * Buckets covering [from_ms, to_ms) cut in `zone` (hours, days, calendar months of that zone's wall
 * clock), each clipped to the range so a partial first or last bucket judges only what was asked for.
 */
export function bucketsOf(period: RollupPeriod, from_ms: number, to_ms: number, zone: string): Bucket[] {
  if (!Number.isFinite(from_ms) || !Number.isFinite(to_ms) || to_ms <= from_ms) {
    throw new QosProbeError("USAGE", `rollup range is empty or reversed: ${from_ms} → ${to_ms}`);
  }
  if (period === "all") return [{ start_ms: from_ms, end_ms: to_ms }];
  if (!UNITS[period]) throw new QosProbeError("USAGE", `unknown period ${period}`);
  const out: Bucket[] = [];
  let start = unitStart(period, from_ms, zone);
  while (start < to_ms) {
    const end = nextUnitStart(period, start, zone);
    out.push({ start_ms: Math.max(start, from_ms), end_ms: Math.min(end, to_ms) });
    start = end;
  }
  return out;
}

/** How many buckets a request would make, without making them (for the request bound). */
export function bucketCount(period: RollupPeriod, from_ms: number, to_ms: number, zone: string): number {
  if (period === "all") return 1;
  // An upper bound cheap enough to check before any work: months are ≥ 28 days, days ≥ 23 h (DST).
  const span = to_ms - from_ms;
  if (period === "hour") return Math.ceil(span / 3_600_000) + 1;
  if (period === "day") return Math.ceil(span / 82_800_000) + 1;
  return bucketsOf(period, from_ms, to_ms, zone).length;
}

/**
 * The TypeScript twin of the store's report query: window rows summed per key and bucket. Windows are
 * assigned by their start; windows starting outside every bucket are left out.
 */
export function aggregateWindows(windows: readonly WindowRow[], buckets: readonly Bucket[]): AggregateRow[] {
  const out = new Map<string, AggregateRow>();
  for (const w of windows) {
    const b = buckets.findIndex((x) => w.window_start_ms >= x.start_ms && w.window_start_ms < x.end_ms);
    if (b < 0) continue;
    const id = `${keyId(w)}#${b}`;
    let row = out.get(id);
    if (!row) {
      row = {
        operator: w.operator,
        from_site: w.from_site,
        to: w.to,
        test_id: w.test_id,
        method: w.method,
        packet_size_bytes: w.packet_size_bytes,
        from_province: w.from_province,
        to_kind: w.to_kind,
        to_province: w.to_province,
        profile: w.profile,
        distance_km: w.distance_km,
        ...zeroSums(),
        bucket: b,
        measured: 0,
        available: 0,
      };
      out.set(id, row);
    }
    addSums(row, w);
    if (w.distance_km !== null) row.distance_km = w.distance_km;
    if (windowMeasured(w)) row.measured += 1;
    if (windowAvailable(w)) row.available += 1;
  }
  return [...out.values()];
}

/**
 * Re-bucket aggregates made for `fine` buckets into `coarse` ones (each fine bucket lies in one coarse
 * bucket: local hours nest in local days, days in months, everything in "all").
 */
export function coarsen(
  rows: readonly AggregateRow[],
  fine: readonly Bucket[],
  coarse: readonly Bucket[],
): AggregateRow[] {
  const map = fine.map((f) => coarse.findIndex((c) => f.start_ms >= c.start_ms && f.start_ms < c.end_ms));
  const out = new Map<string, AggregateRow>();
  for (const r of rows) {
    const b = map[r.bucket] ?? -1;
    if (b < 0) continue;
    const id = `${keyId(r)}#${b}`;
    const have = out.get(id);
    if (!have) {
      out.set(id, { ...r, bucket: b });
      continue;
    }
    addSums(have, r);
    have.measured += r.measured;
    have.available += r.available;
    if (r.distance_km !== null) have.distance_km = r.distance_km;
  }
  return [...out.values()];
}

export interface RollupOptions {
  period: RollupPeriod;
  /** Share of expected windows below which verdicts are insufficient. */
  coverage_floor: number;
  /** Windows after this instant are not expected yet. */
  now_ms: number;
}

/** An all-zero aggregate for a key with no data in a bucket (an expected test that never reported). */
export function emptyAggregate(key: RollupKey & KeyAttributes, bucket: number): AggregateRow {
  return { ...key, ...zeroSums(), bucket, measured: 0, available: 0 };
}

const ratio = (sum: number, n: number): number | null => (n > 0 ? sum / n : null);

/** Means, coverage and verdicts of one key over one bucket. */
export function rollupOf(a: AggregateRow, bucket: Bucket, opts: RollupOptions): PairRollup {
  const expected = expectedWindows(bucket.start_ms, bucket.end_ms, opts.now_ms);
  const coverage = coverageOf(a.measured, expected, opts.coverage_floor);
  const measured = coverage.measured;
  const available = Math.min(a.available, measured);
  const availability: AvailabilityCounts = {
    windows: expected,
    available,
    unavailable: measured - available,
    unmeasured: expected - measured,
    ratio: measured > 0 ? available / measured : null,
  };
  const dv: Record<DvBasisName, DvFigure> = {
    "round-trip": { mean_ms: ratio(a.dv_rt_sum, a.dv_rt_n), intervals: a.dv_rt_n },
    "one-way-forward": { mean_ms: ratio(a.dv_fwd_sum, a.dv_fwd_n), intervals: a.dv_fwd_n },
    "one-way-reverse": { mean_ms: ratio(a.dv_rev_sum, a.dv_rev_n), intervals: a.dv_rev_n },
  };
  let dv_basis: DvBasisName | null = null;
  for (const b of ["round-trip", "one-way-forward", "one-way-reverse"] as const) {
    if (dv[b].intervals > 0 && (dv_basis === null || dv[b].intervals > dv[dv_basis].intervals)) dv_basis = b;
  }
  const mean_dv_ms = dv_basis === null ? null : dv[dv_basis].mean_ms;
  const mean_rtt_ms = ratio(a.rtt_sum, a.rtt_n);
  const mean_loss_ratio = ratio(a.loss_sum, a.loss_n);
  // Mixing one-way means from some intervals with RTT / 2 from others would judge a blend of two
  // quantities; use one-way only when it covers every interval that has a delay at all.
  const mean_one_way_ms = a.ow_n > 0 && a.ow_n === a.rtt_n ? ratio(a.ow_sum, a.ow_n) : null;
  const verdicts = applyCoverage(
    judgeMeans(a.profile, {
      mean_rtt_ms,
      mean_dv_ms,
      mean_loss_ratio,
      availability_ratio: availability.ratio,
      mean_one_way_ms,
    }),
    coverage,
  );
  return {
    operator: a.operator,
    from_site: a.from_site,
    to: a.to,
    test_id: a.test_id,
    method: a.method,
    packet_size_bytes: a.packet_size_bytes,
    from_province: a.from_province,
    to_kind: a.to_kind,
    to_province: a.to_province,
    profile: a.profile,
    distance_km: a.distance_km,
    period: opts.period,
    bucket_start_ms: bucket.start_ms,
    bucket_end_ms: bucket.end_ms,
    intervals: a.results,
    error_intervals: a.errors,
    fault_intervals: a.faults,
    diagnostic_intervals: a.diagnostic,
    flagged: { integrity: a.flagged_integrity, timing: a.flagged_timing, unsynced: a.flagged_unsynced },
    dv_excluded_few: a.dv_few,
    packets: { sent: a.sent, lost: a.lost },
    mean_rtt_ms,
    rtt_intervals: a.rtt_n,
    dv,
    dv_basis,
    mean_dv_ms,
    dv_intervals: dv_basis === null ? 0 : dv[dv_basis].intervals,
    mean_loss_ratio,
    loss_intervals: a.loss_n,
    pooled_loss_ratio: a.sent > 0 ? a.lost / a.sent : null,
    mean_one_way_ms,
    coverage,
    availability,
    verdicts,
  };
}

export { WINDOW_MS };
