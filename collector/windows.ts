import type { Method } from "../agent/probe/prober.js";
import type { ProfileId, ResultMessage } from "../agent/publish/message.js";

/**
 * The 5-minute window table's arithmetic (spec 3.2.2.4: "a continuous 5-minute period is available if
 * the loss ratio in it is ≤ 75 %"). The store keeps one row per rollup key and aligned window, updated
 * in SQL by the catch-up pass over what ingest queued (store/windows-sql.ts ROLLUP_PASS_SQL); this module is the same rule in TypeScript: the reference the
 * SQL is tested against, and what the pure report tests feed on. Keep the two in step.
 *
 * Two ways a result lands in windows:
 * - its per-interval values (RTT, DV, loss, counts) go to the ONE window holding its interval start, so
 *   every interval counts once in every mean ("mean over all measurement intervals", SPEC 3.2.2);
 * - its probed time goes to EVERY window it overlaps, by the overlap of [start, end) with the window, and
 *   its whole sent/lost counts with it. A window is measured when probes covered at least half its time;
 *   packets are never split into fractions (a 0.1-packet share once made a window "measured").
 */

export const WINDOW_MS = 300_000;
/** A window is measured when results with probes cover at least this much of it. */
export const MEASURED_MIN_MS = WINDOW_MS / 2;

/** Flags that make an interval untrustworthy as a whole: out of every verdict, availability included. */
export const INTEGRITY_FLAGS = ["aborted", "rtt-below-light-bound"] as const;
/** Flags that distort timestamps: out of delay and delay-variation verdicts, still fine for loss. */
export const TIMING_FLAGS = ["host-timing", "clock-step"] as const;
/** Clocks not synced: out of one-way figures only. */
export const UNSYNCED_FLAG = "clock-unsynced";

/** The rollup key (issue 9): two tests on one pair never merge; neither do two packet sizes. */
export interface RollupKey {
  operator: string;
  from_site: string;
  /** The peer site id, or the raw target when the test has no peer site. */
  to: string;
  test_id: string;
  method: Method;
  packet_size_bytes: number;
}

/** Descriptive columns carried beside the key (the last value seen wins). */
export interface KeyAttributes {
  from_province: string;
  to_kind: "site" | "target";
  to_province: string | null;
  profile: ProfileId;
  distance_km: number | null;
}

/** Additive per-interval sums: a bucket's are the sums of its windows'. */
export interface IntervalSums {
  /** Non-diagnostic results starting in the window, whatever their status. */
  results: number;
  errors: number;
  /** `status: "fault"`: measurement faults, kept out of path loss and out of coverage. */
  faults: number;
  /** Diagnostic runs: counted, never judged. */
  diagnostic: number;
  /** Intervals flagged aborted / rtt-below-light-bound (out of every verdict). */
  flagged_integrity: number;
  /** Intervals flagged host-timing / clock-step (out of delay and DV verdicts). */
  flagged_timing: number;
  /** Intervals flagged clock-unsynced (out of one-way figures). */
  flagged_unsynced: number;
  /** Intervals with fewer than 2 received packets: no max − min delay variation. */
  dv_few: number;
  rtt_n: number;
  rtt_sum: number;
  dv_rt_n: number;
  dv_rt_sum: number;
  dv_fwd_n: number;
  dv_fwd_sum: number;
  dv_rev_n: number;
  dv_rev_sum: number;
  loss_n: number;
  loss_sum: number;
  sent: number;
  lost: number;
  ow_n: number;
  ow_sum: number;
}

export interface WindowRow extends RollupKey, KeyAttributes, IntervalSums {
  window_start_ms: number;
  /** Time of this window covered by results with probes (sum of overlaps, ms). */
  probed_ms: number;
  /** Whole sent / lost counts of the results overlapping the window. */
  w_sent: number;
  w_lost: number;
}

export const SUM_FIELDS: readonly (keyof IntervalSums)[] = [
  "results",
  "errors",
  "faults",
  "diagnostic",
  "flagged_integrity",
  "flagged_timing",
  "flagged_unsynced",
  "dv_few",
  "rtt_n",
  "rtt_sum",
  "dv_rt_n",
  "dv_rt_sum",
  "dv_fwd_n",
  "dv_fwd_sum",
  "dv_rev_n",
  "dv_rev_sum",
  "loss_n",
  "loss_sum",
  "sent",
  "lost",
  "ow_n",
  "ow_sum",
];

export function zeroSums(): IntervalSums {
  const s = {} as IntervalSums;
  for (const f of SUM_FIELDS) s[f] = 0;
  return s;
}

export function addSums(into: IntervalSums, from: IntervalSums): void {
  for (const f of SUM_FIELDS) into[f] += from[f];
}

/** A window is available iff loss ≤ 75 %: in integers, 4·lost ≤ 3·sent (exactly 75 % is available). */
export function windowMeasured(w: Pick<WindowRow, "probed_ms">): boolean {
  return w.probed_ms >= MEASURED_MIN_MS;
}

export function windowAvailable(w: Pick<WindowRow, "probed_ms" | "w_sent" | "w_lost">): boolean {
  return windowMeasured(w) && 4 * w.w_lost <= 3 * w.w_sent;
}

export function windowStartOf(ms: number): number {
  return Math.floor(ms / WINDOW_MS) * WINDOW_MS;
}

/** What a result contributes, decided once: the SQL in store/windows-sql.ts spells the same rules. */
export interface Classified {
  diagnostic: boolean;
  fault: boolean;
  integrity: boolean;
  timing: boolean;
  unsynced: boolean;
  /** Counts for loss and availability: sent something, not a fault, not integrity-flagged. */
  probes: boolean;
}

export function classify(r: ResultMessage): Classified {
  const flags = r.quality.flags;
  const diagnostic = r.test.diagnostic || flags.includes("diagnostic");
  const fault = (r.status as string) === "fault";
  const integrity = INTEGRITY_FLAGS.some((f) => flags.includes(f));
  const timing = TIMING_FLAGS.some((f) => flags.includes(f));
  const unsynced = flags.includes(UNSYNCED_FLAG);
  return {
    diagnostic,
    fault,
    integrity,
    timing,
    unsynced,
    probes: !diagnostic && !fault && !integrity && r.packets.sent > 0,
  };
}

export function keyOf(r: ResultMessage): RollupKey & KeyAttributes {
  const peer = r.test.peer;
  return {
    operator: r.agent.operator,
    from_site: r.agent.site,
    to: peer ? peer.site : r.test.target,
    test_id: r.test.id,
    method: r.test.method,
    packet_size_bytes: r.test.packet_size_bytes,
    from_province: r.agent.province,
    to_kind: peer ? "site" : "target",
    to_province: peer ? peer.province : null,
    profile: r.verdicts.profile,
    distance_km: r.test.distance_km ?? null,
  };
}

export function keyId(k: RollupKey): string {
  return JSON.stringify([k.operator, k.from_site, k.to, k.test_id, k.method, k.packet_size_bytes]);
}

/** The per-interval sums one result adds to the window holding its start. */
export function intervalSums(r: ResultMessage): IntervalSums {
  const c = classify(r);
  const s = zeroSums();
  if (c.diagnostic) {
    s.diagnostic = 1;
    return s;
  }
  s.results = 1;
  if (r.status === "error") s.errors = 1;
  if (c.fault) s.faults = 1;
  if (c.fault) return s;
  if (c.integrity) s.flagged_integrity = 1;
  if (c.timing) s.flagged_timing = 1;
  if (c.unsynced) s.flagged_unsynced = 1;
  if (c.integrity) return s;
  if (r.packets.sent > 0) {
    s.loss_n = 1;
    s.loss_sum = r.packets.lost / r.packets.sent;
    s.sent = r.packets.sent;
    s.lost = r.packets.lost;
  }
  if (c.timing) return s;
  if (r.rtt_ms.mean !== null) {
    s.rtt_n = 1;
    s.rtt_sum = r.rtt_ms.mean;
  }
  const dv = r.delay_variation_ms.max_minus_min;
  // Spec 3.2.2.2 is max − min over an interval's packets: one packet has no variation to measure.
  if (r.packets.received < 2) {
    if (r.packets.received === 1) s.dv_few = 1;
  } else if (dv !== null) {
    const basis = r.delay_variation_ms.basis;
    if (basis === "round-trip") {
      s.dv_rt_n = 1;
      s.dv_rt_sum = dv;
    } else if (!c.unsynced) {
      if (basis === "one-way-forward") {
        s.dv_fwd_n = 1;
        s.dv_fwd_sum = dv;
      } else {
        s.dv_rev_n = 1;
        s.dv_rev_sum = dv;
      }
    }
  }
  const fwd = r.one_way_ms?.clock_synced && !c.unsynced ? r.one_way_ms.forward.mean : null;
  if (fwd !== null && fwd !== undefined && r.rtt_ms.mean !== null) {
    s.ow_n = 1;
    s.ow_sum = fwd;
  }
  return s;
}

/**
 * The window rows a set of results makes (the TypeScript twin of the store's window table), sorted
 * by key then window. Results are taken as given: the store's unique keys have already dropped
 * redeliveries and second claims.
 */
export function windowRowsFromResults(results: readonly ResultMessage[]): WindowRow[] {
  const rows = new Map<string, WindowRow>();
  const rowFor = (r: ResultMessage, window_start_ms: number): WindowRow => {
    const key = keyOf(r);
    const id = `${keyId(key)}@${window_start_ms}`;
    let row = rows.get(id);
    if (!row) {
      row = { ...key, ...zeroSums(), window_start_ms, probed_ms: 0, w_sent: 0, w_lost: 0 };
      rows.set(id, row);
    } else {
      Object.assign(row, {
        from_province: key.from_province,
        to_kind: key.to_kind,
        to_province: key.to_province,
        profile: key.profile,
        distance_km: key.distance_km ?? row.distance_km,
      });
    }
    return row;
  };
  for (const r of results) {
    const start = Date.parse(r.interval.start);
    const end = Date.parse(r.interval.end);
    addSums(rowFor(r, windowStartOf(start)), intervalSums(r));
    if (!classify(r).probes) continue;
    for (let w = windowStartOf(start); w < end; w += WINDOW_MS) {
      const overlap = Math.min(end, w + WINDOW_MS) - Math.max(start, w);
      if (overlap <= 0) continue;
      const row = rowFor(r, w);
      row.probed_ms += overlap;
      row.w_sent += r.packets.sent;
      row.w_lost += r.packets.lost;
    }
  }
  return [...rows.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, row]) => row)
    .sort((a, b) => {
      const ka = keyId(a);
      const kb = keyId(b);
      return ka < kb ? -1 : ka > kb ? 1 : a.window_start_ms - b.window_start_ms;
    });
}
