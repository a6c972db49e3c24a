import { QosProbeError } from "../../agent/errors.js";
import { configStatusFromStore, registeredSites } from "../control-plane/from-store.js";
import { DEFAULT_COVERAGE_FLOOR, type ExpectedTest } from "../coverage.js";
import { gapsFromStore } from "../gaps.js";
import { bucketCount, bucketsOf, type RollupPeriod } from "../rollup.js";
import type { ResultStore } from "../store/store.js";
import { DEFAULT_TIMEZONE, fromCivil } from "../timezone.js";
import { renderCsv } from "./csv.js";
import { renderHtml } from "./html.js";
import type { Lang } from "./i18n.js";
import { buildReport, finestPeriod, type ReportModel, renderJson, type SiteInfo } from "./model.js";

/** "results": the stored result messages as JSON Lines, for `qos-probe verify` (an auditor's export). */
export type ReportFormat = "html" | "csv" | "json" | "results";

/** Request bounds: a report is a bounded query, never "everything since 1990 by the hour". */
export interface ReportLimits {
  /** Longest range, days (default 400: a year and a bit, for annual reports by month). */
  max_range_days: number;
  /** Most buckets of the requested period (default 744: a 31-day month by the hour). */
  max_buckets: number;
}

export const DEFAULT_REPORT_LIMITS: ReportLimits = { max_range_days: 400, max_buckets: 744 };

export interface StoreReportRequest {
  from_ms: number;
  to_ms: number;
  format: ReportFormat;
  lang: Lang;
  period: RollupPeriod;
  sites: readonly SiteInfo[];
  generated_at_ms: number;
  timezone?: string;
  coverage_floor?: number;
  expected?: readonly ExpectedTest[];
  limits?: ReportLimits;
}

/** Refuse a request over the bounds with a usage error saying which bound and how to fit in it. */
export function checkReportRequest(req: StoreReportRequest): void {
  const limits = req.limits ?? DEFAULT_REPORT_LIMITS;
  const zone = req.timezone ?? DEFAULT_TIMEZONE;
  if (!(req.to_ms > req.from_ms)) {
    throw new QosProbeError("USAGE", "the report range is empty: to must be after from", {
      hint: "the report covers [from, to): to is exclusive",
    });
  }
  const days = (req.to_ms - req.from_ms) / 86_400_000;
  if (days > limits.max_range_days) {
    throw new QosProbeError(
      "USAGE",
      `the report range is ${Math.ceil(days)} days, more than the ${limits.max_range_days} allowed`,
      { hint: "ask for a shorter range (e.g. one month), or raise report.max_range_days" },
    );
  }
  const n = bucketCount(req.period, req.from_ms, req.to_ms, zone);
  if (n > limits.max_buckets) {
    throw new QosProbeError(
      "USAGE",
      `period=${req.period} over this range makes about ${n} buckets per pair, more than the ${limits.max_buckets} allowed`,
      { hint: "use a coarser period (day or month) or a shorter range, or raise report.max_buckets" },
    );
  }
}

/**
 * The report model for [from, to) from the store's aggregates: one query for window sums at the finest
 * bucket the rows or charts need (coarser levels are summed in memory: all sums are additive), one for
 * faults, per agent its stored seq islands (the delivery gaps, as `qos-probe gaps` lists them) and its
 * evidence chain as kept at ingest (store/chains.ts), and per site its configuration acks and heartbeat
 * (as `qos-probe config status` lists them). Never reads result payloads.
 */
export async function reportModelFromStore(
  store: ResultStore,
  req: StoreReportRequest,
): Promise<ReportModel> {
  checkReportRequest(req);
  const zone = req.timezone ?? DEFAULT_TIMEZONE;
  const buckets = bucketsOf(finestPeriod(req.period, req.from_ms, req.to_ms), req.from_ms, req.to_ms, zone);
  const range = { from: new Date(req.from_ms), to: new Date(req.to_ms) };
  const [aggregates, faults, gaps, evidence, configuration] = await Promise.all([
    store.queryAggregates({
      bucket_starts: buckets.map((b) => b.start_ms),
      from_ms: req.from_ms,
      to_ms: req.to_ms,
    }),
    store.queryFaults(range),
    gapsFromStore(store),
    store.queryEvidence(range),
    // The regulator's view of the signed configuration, as of the report's generation time.
    store.controlPlane
      ? configStatusFromStore(store, { now_ms: req.generated_at_ms }, registeredSites(req.sites))
      : undefined,
  ]);
  return buildReport(
    { buckets, aggregates, faults, gaps, evidence, ...(configuration ? { configuration } : {}) },
    {
      from_ms: req.from_ms,
      to_ms: req.to_ms,
      period: req.period,
      lang: req.lang,
      generated_at_ms: req.generated_at_ms,
      sites: req.sites,
      timezone: zone,
      coverage_floor: req.coverage_floor ?? DEFAULT_COVERAGE_FLOOR,
      expected: req.expected ?? [],
    },
  );
}

export function renderReport(model: ReportModel, format: ReportFormat): string {
  if (format === "csv") return renderCsv(model);
  if (format === "json") return renderJson(model);
  return renderHtml(model);
}

/** Query the aggregates for [from, to) and render the report: one path for the HTTP server and the CLI. */
export async function reportFromStore(store: ResultStore, req: StoreReportRequest): Promise<string> {
  if (req.format === "results") {
    // The auditor's export is the signed payloads themselves (so it reads them, bounded like a report).
    checkReportRequest(req);
    const rows = await store.queryResults({ from: new Date(req.from_ms), to: new Date(req.to_ms) });
    return rows.map((r) => JSON.stringify(r.payload)).join("\n");
  }
  return renderReport(await reportModelFromStore(store, req), req.format);
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A report bound: an ISO date or date-time. Without an offset it is wall-clock time in the report's
 * zone (report.timezone): "2026-11-01" is the regulator's midnight, 2026-10-31T16:00Z in Asia/Shanghai.
 */
export function parseReportTime(text: string, what: string, zone: string = DEFAULT_TIMEZONE): number {
  const t = text.trim();
  let ms = Number.NaN;
  const local = (s: string): number => {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?$/.exec(s);
    if (!m) return Number.NaN;
    const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4] ?? "0", m[5] ?? "0"].map(Number) as number[];
    const base = fromCivil(zone, y as number, mo as number, d, h, mi);
    return base + Number(m[6] ?? 0) * 1000 + Math.round(Number(m[7] ?? 0) * 1000);
  };
  if (DATE_ONLY.test(t)) ms = local(t);
  else if (DATE_TIME.test(t)) {
    const iso = t.replace(" ", "T");
    ms = /(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? Date.parse(iso) : local(iso);
  }
  if (!Number.isFinite(ms)) {
    throw new QosProbeError("USAGE", `${what} "${text}" is not an ISO date or date-time`, {
      hint: `write 2026-11-01 (midnight ${zone}) or 2026-11-01T08:00:00+08:00`,
    });
  }
  return ms;
}

/** Both bounds, checked: from must come before to. */
export function parseReportRange(
  from: string,
  to: string,
  zone: string = DEFAULT_TIMEZONE,
): { from_ms: number; to_ms: number } {
  const from_ms = parseReportTime(from, "--from", zone);
  const to_ms = parseReportTime(to, "--to", zone);
  if (to_ms <= from_ms) {
    throw new QosProbeError("USAGE", `--to ${to} is not after --from ${from}`, {
      hint: "the report covers [from, to): to is exclusive",
    });
  }
  return { from_ms, to_ms };
}
