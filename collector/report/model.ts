import { type IndicatorId, PROFILE_THRESHOLDS } from "../../agent/compliance/thresholds.js";
import type { RollupVerdicts } from "../../agent/compliance/verdict.js";
import type { ProfileId, ResultMessage, VerdictValue } from "../../agent/publish/message.js";
import { type AgentEvidence, walkChains } from "../evidence.js";
import { type PairKey, type PairRollup, pairKeyId, type RollupPeriod, rollup } from "../rollup.js";
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
 * Built from result messages through the rollups; no clock reads (generated_at is passed in).
 */

export interface ReportOptions {
  from_ms: number;
  to_ms: number;
  period: RollupPeriod;
  lang: Lang;
  /** When the report was made, epoch ms: passed in so the same inputs give the same report. */
  generated_at_ms: number;
  sites?: readonly SiteInfo[];
  include_diagnostic?: boolean;
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

export interface ReportPair extends PairKey {
  id: string;
  /** Province names in the report's language, when the province is a known one. */
  from_province_name: string | null;
  to_province_name: string | null;
  distance_km: number | null;
  /** The whole reporting range as one bucket: what the map colours and the summary judges. */
  overall: PairRollup;
  overall_verdict: VerdictValue;
  /** One row per bucket of the requested period. */
  rows: PairRollup[];
  /** Chart points at a resolution that fits the range (see seriesPeriod). */
  series: { period: Exclude<RollupPeriod, "all">; points: SeriesPoint[] };
}

export interface ReportSection {
  profile: ProfileId;
  title: string;
  columns: ReportColumn[];
  pairs: ReportPair[];
}

export interface ReportOperator {
  operator: string;
  sections: ReportSection[];
  sites: ReportSite[];
  links: ReportLink[];
}

export interface ReportModel {
  schema: "qosprobe.report/1";
  lang: Lang;
  title: string;
  period: { kind: RollupPeriod; from: string; to: string; from_ms: number; to_ms: number };
  generated_at: string;
  operators: ReportOperator[];
  /** Per agent: signed results, chain head and chain breaks in the period (collector/evidence.ts). */
  evidence: AgentEvidence[];
}

export function buildReport(results: readonly ResultMessage[], opts: ReportOptions): ReportModel {
  const base = { from_ms: opts.from_ms, to_ms: opts.to_ms, include_diagnostic: opts.include_diagnostic };
  const seriesKind = seriesPeriod(opts.from_ms, opts.to_ms);
  const overall = rollup(results, { ...base, period: "all" });
  const rows = byPair(rollup(results, { ...base, period: opts.period }));
  const series = byPair(rollup(results, { ...base, period: seriesKind }));

  const operators = new Map<string, ReportPair[]>();
  for (const o of overall) {
    const id = pairKeyId(o);
    const pair: ReportPair = {
      ...pickKey(o),
      id,
      from_province_name: provinceName(o.from_province, opts.lang),
      to_province_name: o.to_province === null ? null : provinceName(o.to_province, opts.lang),
      distance_km: o.distance_km,
      overall: o,
      overall_verdict: worstVerdict(o.verdicts),
      rows: rows.get(id) ?? [],
      series: { period: seriesKind, points: (series.get(id) ?? []).map(toPoint) },
    };
    const list = operators.get(o.operator) ?? [];
    list.push(pair);
    operators.set(o.operator, list);
  }

  return {
    schema: "qosprobe.report/1",
    lang: opts.lang,
    title: opts.title ?? label(opts.lang, "title"),
    period: {
      kind: opts.period,
      from: new Date(opts.from_ms).toISOString(),
      to: new Date(opts.to_ms).toISOString(),
      from_ms: opts.from_ms,
      to_ms: opts.to_ms,
    },
    generated_at: new Date(opts.generated_at_ms).toISOString(),
    operators: [...operators.entries()].map(([operator, pairs]) =>
      buildOperator(operator, pairs, opts.lang, opts.sites ?? []),
    ),
    evidence: walkChains(results),
  };
}

/**
 * Chart resolution: about 24–90 points per line whatever the range, so an inline SVG stays small
 * (a month of one-minute intervals would be 43,200 points per line).
 */
export function seriesPeriod(from_ms: number, to_ms: number): Exclude<RollupPeriod, "all"> {
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
): ReportOperator {
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
    sections,
    sites,
    links: mapLinks(pairs, sites),
  };
}

function byPair(rollups: readonly PairRollup[]): Map<string, PairRollup[]> {
  const out = new Map<string, PairRollup[]>();
  for (const r of rollups) {
    const id = pairKeyId(r);
    const list = out.get(id) ?? [];
    list.push(r);
    out.set(id, list);
  }
  return out;
}

function pickKey(k: PairKey): PairKey {
  const { operator, from_site, from_province, to, to_kind, to_province, profile, method } = k;
  return { operator, from_site, from_province, to, to_kind, to_province, profile, method };
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

/** The JSON report is the model itself. */
export function renderJson(model: ReportModel): string {
  return JSON.stringify(model, null, 2);
}
