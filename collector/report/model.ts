import { type IndicatorId, PROFILE_THRESHOLDS } from "../../agent/compliance/thresholds.js";
import type { RollupVerdicts } from "../../agent/compliance/verdict.js";
import type { ProfileId, ResultMessage, VerdictValue } from "../../agent/publish/message.js";
import { type ConfigStatusReport, configStatusInZone } from "../control-plane/config-status.js";
import { type Coverage, coverageOf, DEFAULT_COVERAGE_FLOOR, type ExpectedTest } from "../coverage.js";
import { type AgentEvidence, walkChains } from "../evidence.js";
import type { AgentGaps } from "../gaps.js";
import {
  type AggregateRow,
  aggregateWindows,
  type Bucket,
  bucketsOf,
  type CalendarPeriod,
  coarsen,
  emptyAggregate,
  type PairRollup,
  PERIOD_ORDER,
  type RollupPeriod,
  rollupOf,
} from "../rollup.js";
import type { FaultRow } from "../store/store.js";
import { DEFAULT_TIMEZONE, isoInZone } from "../timezone.js";
import {
  classify,
  type KeyAttributes,
  keyId,
  keyOf,
  type RollupKey,
  windowRowsFromResults,
  windowStartOf,
} from "../windows.js";
import { type Lang, label } from "./i18n.js";
import {
  mapLinks,
  placeSites,
  provinceName,
  type ReportLink,
  type ReportSite,
  type SiteInfo,
} from "./sites.js";

export type { ReportLink, ReportSite, SiteInfo };

/**
 * The report as data: everything the HTML and CSV renderers draw, and itself the JSON format.
 * Built from window aggregates (the store's report query, or windows.ts's twin over result messages
 * in tests); no clock reads (generated_at is passed in).
 */

export const REPORT_SCHEMA_ID = "qosprobe.report/2";

export interface ReportOptions {
  from_ms: number;
  to_ms: number;
  period: RollupPeriod;
  lang: Lang;
  /** When the report was made, epoch ms: windows after it are not expected yet. */
  generated_at_ms: number;
  /** IANA zone the hours, days and months are cut in, and every time is printed in. */
  timezone?: string;
  /** Share of expected windows a verdict needs (default 0.9). */
  coverage_floor?: number;
  /** Tests the mesh schedules: shown (with zero coverage) even when they never reported. */
  expected?: readonly ExpectedTest[];
  sites?: readonly SiteInfo[];
  title?: string;
}

/** One requirement column: the clause and its wording, in the report's language. */
export interface ReportColumn {
  indicator: IndicatorId;
  clause: string;
  label: string;
  requirement: string;
  limit: number;
  unit: "ms" | "ratio";
}

export interface SeriesPoint {
  /** The bucket the point summarises: [t_ms, t_end_ms). */
  t_ms: number;
  t_end_ms: number;
  mean_rtt_ms: number | null;
  mean_dv_ms: number | null;
  mean_loss_ratio: number | null;
}

/** Faults and errors of one pair and code over the period: what the operator has to fix. */
export interface ReportFault {
  status: "fault" | "error";
  code: string;
  count: number;
  last_at: string;
  last_message: string;
}

export interface ReportPair extends RollupKey, KeyAttributes {
  id: string;
  /** Province names in the report's language, when the province is a known one. */
  from_province_name: string | null;
  to_province_name: string | null;
  /** The whole reporting range as one bucket: what the map colours and the summary judges. */
  overall: PairRollup;
  overall_verdict: VerdictValue;
  /** One row per bucket of the requested period. */
  rows: PairRollup[];
  /** Chart points at a resolution that fits the range (see seriesPeriod). */
  series: { period: CalendarPeriod; points: SeriesPoint[] };
  faults: ReportFault[];
}

export interface ReportSection {
  profile: ProfileId;
  title: string;
  columns: ReportColumn[];
  pairs: ReportPair[];
}

export interface ReportOperator {
  operator: string;
  /** Σ measured / Σ expected windows over the operator's pairs, for the whole period. */
  coverage: Coverage;
  sections: ReportSection[];
  sites: ReportSite[];
  links: ReportLink[];
}

export interface ReportModel {
  schema: typeof REPORT_SCHEMA_ID;
  lang: Lang;
  title: string;
  /** The zone every bucket is cut in; every time string below carries its offset. */
  timezone: string;
  coverage_floor: number;
  period: { kind: RollupPeriod; from: string; to: string; from_ms: number; to_ms: number };
  generated_at: string;
  operators: ReportOperator[];
  /** Per agent: signed results, chain head and chain breaks (collector/evidence.ts), when computed. */
  evidence?: AgentEvidence[];
  /**
   * Per agent with a heartbeat: seqs missing from the store (collector/gaps.ts), as of generated_at and
   * over the agent's whole history (seqs are not tied to the period). Absent when not computed.
   */
  gaps?: ReportGapRow[];
  /**
   * The regulator's view of the signed configuration as of generated_at (collector/control-plane):
   * per site the version it runs and who is not on the expected one. Absent when not computed.
   */
  configuration?: ConfigStatusReport;
}

/** collector/gaps.ts's AgentGaps, JSON-safe: the last heartbeat as ISO 8601 with the report zone's offset. */
export interface ReportGapRow extends Omit<AgentGaps, "last_heartbeat"> {
  last_heartbeat: string | null;
}

/** What the report is made from: window sums for `buckets`, plus the faults of the period. */
export interface ReportInput {
  buckets: readonly Bucket[];
  aggregates: readonly AggregateRow[];
  faults: readonly FaultRow[];
  /** The agents' hash chains over the period; needs the payloads, so only where they are at hand. */
  evidence?: readonly AgentEvidence[];
  /** Per agent, stored seqs against its heartbeat (collector/gaps.ts's gapsFromStore). */
  gaps?: readonly AgentGaps[];
  /** Config acks and heartbeats (collector/control-plane/config-status.ts), as of generated_at. */
  configuration?: ConfigStatusReport;
}

/** The one bucket size the store is asked for: the finest the rows or the chart need. */
export function finestPeriod(period: RollupPeriod, from_ms: number, to_ms: number): CalendarPeriod {
  const series = seriesPeriod(from_ms, to_ms);
  if (period === "all") return series;
  return PERIOD_ORDER.indexOf(period) < PERIOD_ORDER.indexOf(series) ? (period as CalendarPeriod) : series;
}

export function buildReport(input: ReportInput, opts: ReportOptions): ReportModel {
  const zone = opts.timezone ?? DEFAULT_TIMEZONE;
  const floor = opts.coverage_floor ?? DEFAULT_COVERAGE_FLOOR;
  const seriesKind = seriesPeriod(opts.from_ms, opts.to_ms);
  const levels = {
    overall: bucketsOf("all", opts.from_ms, opts.to_ms, zone),
    rows: bucketsOf(opts.period, opts.from_ms, opts.to_ms, zone),
    series: bucketsOf(seriesKind, opts.from_ms, opts.to_ms, zone),
  };
  const at = (buckets: readonly Bucket[]) => byKey(coarsen(input.aggregates, input.buckets, buckets));
  const overall = at(levels.overall);
  const rows = at(levels.rows);
  const series = at(levels.series);

  // Every key with data, and every key the mesh expects: an expected test that never reported shows
  // with zero coverage instead of vanishing.
  const keys = new Map<string, RollupKey & KeyAttributes>();
  for (const a of input.aggregates) keys.set(keyId(a), a);
  for (const e of opts.expected ?? []) if (!keys.has(keyId(e))) keys.set(keyId(e), e);
  const faults = new Map<string, ReportFault[]>();
  for (const f of input.faults) {
    const id = keyId(f as unknown as RollupKey);
    const list = faults.get(id) ?? [];
    list.push({
      status: f.status,
      code: f.code,
      count: f.count,
      last_at: isoInZone(f.last_at.getTime(), zone),
      last_message: f.last_message,
    });
    faults.set(id, list);
  }

  const ropts = (period: RollupPeriod) => ({ period, coverage_floor: floor, now_ms: opts.generated_at_ms });
  const rollRow = (
    got: Map<string, AggregateRow[]>,
    id: string,
    key: RollupKey & KeyAttributes,
    buckets: readonly Bucket[],
    period: RollupPeriod,
  ): PairRollup[] => {
    const have = new Map((got.get(id) ?? []).map((a) => [a.bucket, a]));
    return buckets.map((b, i) => rollupOf(have.get(i) ?? emptyAggregate(key, i), b, ropts(period)));
  };

  const operators = new Map<string, ReportPair[]>();
  const sortedIds = [...keys.keys()].sort();
  for (const id of sortedIds) {
    const key = keys.get(id) as RollupKey & KeyAttributes;
    const o = rollRow(overall, id, key, levels.overall, "all")[0] as PairRollup;
    const pair: ReportPair = {
      ...pickKey(o),
      id,
      from_province_name: provinceName(o.from_province, opts.lang),
      to_province_name: o.to_province === null ? null : provinceName(o.to_province, opts.lang),
      overall: o,
      overall_verdict: worstVerdict(o.verdicts),
      rows: rollRow(rows, id, key, levels.rows, opts.period),
      series: {
        period: seriesKind,
        points: rollRow(series, id, key, levels.series, seriesKind).map(toPoint),
      },
      faults: faults.get(id) ?? [],
    };
    const list = operators.get(o.operator) ?? [];
    list.push(pair);
    operators.set(o.operator, list);
  }

  return {
    schema: REPORT_SCHEMA_ID,
    lang: opts.lang,
    title: opts.title ?? label(opts.lang, "title"),
    timezone: zone,
    coverage_floor: floor,
    period: {
      kind: opts.period,
      from: isoInZone(opts.from_ms, zone),
      to: isoInZone(opts.to_ms, zone),
      from_ms: opts.from_ms,
      to_ms: opts.to_ms,
    },
    generated_at: isoInZone(opts.generated_at_ms, zone),
    operators: [...operators.entries()].map(([operator, pairs]) =>
      buildOperator(operator, pairs, opts.lang, opts.sites ?? [], floor),
    ),
    ...(input.evidence ? { evidence: [...input.evidence] } : {}),
    ...(input.gaps ? { gaps: input.gaps.map((g) => gapRow(g, zone)) } : {}),
    ...(input.configuration ? { configuration: configStatusInZone(input.configuration, zone) } : {}),
  };
}

/**
 * The report straight from result messages, through windows.ts's twin of the store's SQL: for tests
 * and small tools. The collector itself never loads results; it asks the store for aggregates.
 */
export function buildReportFromResults(results: readonly ResultMessage[], opts: ReportOptions): ReportModel {
  const zone = opts.timezone ?? DEFAULT_TIMEZONE;
  const buckets = bucketsOf(
    finestPeriod(opts.period, opts.from_ms, opts.to_ms),
    opts.from_ms,
    opts.to_ms,
    zone,
  );
  const aggregates = aggregateWindows(windowRowsFromResults(results), buckets);
  return buildReport(
    { buckets, aggregates, faults: faultsFromResults(results, opts), evidence: walkChains(results) },
    opts,
  );
}

/** windows.ts's twin of the store's fault query. */
export function faultsFromResults(
  results: readonly ResultMessage[],
  range: { from_ms: number; to_ms: number },
): FaultRow[] {
  const out = new Map<string, FaultRow>();
  for (const r of results) {
    if (r.status === "ok" || classify(r).diagnostic) continue;
    const w = windowStartOf(Date.parse(r.interval.start));
    if (w < range.from_ms || w >= range.to_ms) continue;
    const k = keyOf(r);
    const code = r.error?.code ?? "UNKNOWN";
    const id = JSON.stringify([keyId(k), r.status, code]);
    const at = new Date(r.interval.start);
    const have = out.get(id);
    if (!have) {
      out.set(id, {
        operator: k.operator,
        from_site: k.from_site,
        to: k.to,
        test_id: k.test_id,
        method: k.method,
        packet_size_bytes: k.packet_size_bytes,
        status: r.status as "fault" | "error",
        code,
        count: 1,
        last_at: at,
        last_message: r.error?.message ?? "",
      });
    } else {
      have.count += 1;
      if (at >= have.last_at) {
        have.last_at = at;
        have.last_message = r.error?.message ?? "";
      }
    }
  }
  return [...out.values()];
}

/**
 * Chart resolution: about 24–90 points per line whatever the range, so an inline SVG stays small
 * (a month of one-minute intervals would be 43,200 points per line).
 */
export function seriesPeriod(from_ms: number, to_ms: number): CalendarPeriod {
  const days = (to_ms - from_ms) / 86_400_000;
  if (days <= 3) return "hour";
  if (days <= 93) return "day";
  return "month";
}

/** fail beats insufficient beats pass: one failing indicator fails the pair. */
export function worstVerdict(v: RollupVerdicts): VerdictValue {
  const all = [v.rtt, v.delay_variation, v.loss, ...(v.availability === null ? [] : [v.availability])];
  if (all.includes("fail")) return "fail";
  if (all.includes("insufficient")) return "insufficient";
  return "pass";
}

export function columnsFor(profile: ProfileId, lang: Lang): ReportColumn[] {
  const ind = PROFILE_THRESHOLDS[profile].indicators;
  const ids: IndicatorId[] = ["delay", "delay_variation", "loss", "availability"];
  return ids.flatMap((id) => {
    const i = ind[id];
    if (!i) return [];
    return [
      {
        indicator: id,
        clause: i.clause,
        label: i.label[lang],
        requirement: i.requirement[lang],
        limit: i.limit,
        unit: i.unit,
      },
    ];
  });
}

function buildOperator(
  operator: string,
  pairs: ReportPair[],
  lang: Lang,
  infos: readonly SiteInfo[],
  floor: number,
): ReportOperator {
  let measured = 0;
  let expected = 0;
  for (const p of pairs) {
    measured += p.overall.coverage.measured;
    expected += p.overall.coverage.expected;
  }
  const profiles = [...new Set(pairs.map((p) => p.profile))].sort();
  const sections = profiles.map((profile) => ({
    profile,
    title: PROFILE_THRESHOLDS[profile].title[lang],
    columns: columnsFor(profile, lang),
    pairs: pairs.filter((p) => p.profile === profile),
  }));
  const sites = placeSites(operator, pairs, lang, infos);

  return {
    operator,
    coverage: coverageOf(measured, expected, floor),
    sections,
    sites,
    links: mapLinks(pairs, sites),
  };
}

function gapRow(g: AgentGaps, zone: string): ReportGapRow {
  return {
    ...g,
    missing_ranges: g.missing_ranges.map(([a, b]) => [a, b]),
    last_heartbeat: g.last_heartbeat === null ? null : isoInZone(g.last_heartbeat.getTime(), zone),
  };
}

function byKey(rows: readonly AggregateRow[]): Map<string, AggregateRow[]> {
  const out = new Map<string, AggregateRow[]>();
  for (const r of rows) {
    const id = keyId(r);
    const list = out.get(id) ?? [];
    list.push(r);
    out.set(id, list);
  }
  return out;
}

function pickKey(k: RollupKey & KeyAttributes): RollupKey & KeyAttributes {
  const { operator, from_site, to, test_id, method, packet_size_bytes } = k;
  const { from_province, to_kind, to_province, profile, distance_km } = k;
  return {
    operator,
    from_site,
    to,
    test_id,
    method,
    packet_size_bytes,
    from_province,
    to_kind,
    to_province,
    profile,
    distance_km,
  };
}

function toPoint(r: PairRollup): SeriesPoint {
  return {
    t_ms: r.bucket_start_ms,
    t_end_ms: r.bucket_end_ms,
    mean_rtt_ms: r.mean_rtt_ms,
    mean_dv_ms: r.mean_dv_ms,
    mean_loss_ratio: r.mean_loss_ratio,
  };
}

/**
 * The JSON report is the model itself, compact: a national month is 15 MB this way and 28 MB indented
 * (bench:report), memory the collector holds while sending and caching it. `jq .` pretty-prints it.
 */
export function renderJson(model: ReportModel): string {
  return JSON.stringify(model);
}
