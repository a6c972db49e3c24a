import type { RollupVerdicts } from "../agent/compliance/verdict.js";
import type { Method } from "../agent/probe/prober.js";
import type { ProfileId } from "../agent/publish/message.js";
import { type KeyAttributes, type RollupKey, WINDOW_MS } from "./windows.js";

/**
 * The coverage model (SPEC 3.2.2 "A verdict needs coverage"): from the mesh, every test is expected to
 * measure every aligned 5-minute window; a window is measured when probes covered at least half of it
 * (windows.ts). Coverage = measured / expected. Below the floor every verdict of the bucket is
 * `insufficient`: a pair measured for a sliver of the month does not pass. Unmeasured windows are
 * never available and never hidden: they are reported beside every mean.
 */

/** Default share of expected windows a verdict needs (issue 9: 90 %). */
export const DEFAULT_COVERAGE_FLOOR = 0.9;

export interface Coverage {
  /** Aligned 5-minute windows of the bucket that ended by `now` (the future is not expected yet). */
  expected: number;
  measured: number;
  /** measured / expected; null when nothing was expected (a bucket entirely in the future). */
  ratio: number | null;
  floor: number;
  /** ratio ≥ floor. */
  sufficient: boolean;
}

/**
 * Windows the bucket [start, end) expects by `now`: aligned window starts t with start ≤ t < end whose
 * window has ended, t + 5 min ≤ now. The period ends at min(end, now): a window still running (or
 * wholly ahead) cannot have been measured yet, so counting it would read a fully measured pair as
 * under-covered (a demo a minute old, a report of the current month).
 */
export function expectedWindows(start_ms: number, end_ms: number, now_ms: number): number {
  const first = Math.ceil(start_ms / WINDOW_MS);
  const afterLast = Math.min(Math.ceil(end_ms / WINDOW_MS), Math.floor(now_ms / WINDOW_MS));
  return Math.max(0, afterLast - first);
}

export function coverageOf(measured: number, expected: number, floor: number): Coverage {
  // More measured than expected only happens for the window still running or later ones (an agent
  // clock ahead): cap it.
  const m = Math.min(measured, expected);
  const ratio = expected > 0 ? m / expected : null;
  return { expected, measured: m, ratio, floor, sufficient: ratio !== null && ratio >= floor };
}

/** Verdicts of an under-covered bucket: every judged indicator becomes insufficient. */
export function applyCoverage(v: RollupVerdicts, c: Coverage): RollupVerdicts {
  if (c.sufficient) return v;
  return {
    ...v,
    rtt: "insufficient",
    delay_variation: "insufficient",
    loss: "insufficient",
    availability: v.availability === null ? null : "insufficient",
  };
}

/** A test the mesh schedules: expected in every window even when no result ever arrived. */
export interface ExpectedTest extends RollupKey, KeyAttributes {}

/** The `tests:` entries of an agent configuration, as far as the collector needs them. */
export interface MeshTestInput {
  id: string;
  method: Method;
  from: string;
  to?: string;
  profile: ProfileId;
  packet_size_bytes: number;
  diagnostic: boolean;
}

export interface MeshSiteInput {
  id: string;
  operator: string;
  province: string;
}

/**
 * Expected rollup keys from a mesh: every non-diagnostic test between two sites. Raw-target tests are
 * diagnostic by the pair rule, so they are never expected.
 */
export function expectedTests(
  sites: readonly MeshSiteInput[],
  tests: readonly MeshTestInput[],
): ExpectedTest[] {
  const byId = new Map(sites.map((s) => [s.id, s]));
  const out: ExpectedTest[] = [];
  for (const t of tests) {
    if (t.diagnostic || t.to === undefined) continue;
    const from = byId.get(t.from);
    const to = byId.get(t.to);
    if (!from || !to) continue;
    out.push({
      operator: from.operator,
      from_site: from.id,
      to: to.id,
      test_id: t.id,
      method: t.method,
      packet_size_bytes: t.packet_size_bytes,
      from_province: from.province,
      to_kind: "site",
      to_province: to.province,
      profile: t.profile,
      distance_km: null,
    });
  }
  return out;
}
