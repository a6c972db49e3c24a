import { QosProbeError } from "../../agent/errors.js";
import type { RollupPeriod } from "../rollup.js";
import type { ResultStore } from "../store/store.js";
import { renderCsv } from "./csv.js";
import { renderHtml } from "./html.js";
import type { Lang } from "./i18n.js";
import { buildReport, renderJson, type SiteInfo } from "./model.js";

/** "results": the stored result messages as JSON Lines, for `qos-probe verify` (an auditor's export). */
export type ReportFormat = "html" | "csv" | "json" | "results";

export interface StoreReportRequest {
  from_ms: number;
  to_ms: number;
  format: ReportFormat;
  lang: Lang;
  period: RollupPeriod;
  sites: readonly SiteInfo[];
  generated_at_ms: number;
}

/** Query the results in [from, to) and render the report: one path for the HTTP server and the CLI. */
export async function reportFromStore(store: ResultStore, req: StoreReportRequest): Promise<string> {
  const rows = await store.queryResults({ from: new Date(req.from_ms), to: new Date(req.to_ms) });
  if (req.format === "results") return rows.map((r) => JSON.stringify(r.payload)).join("\n");
  const model = buildReport(
    rows.map((r) => r.payload),
    {
      from_ms: req.from_ms,
      to_ms: req.to_ms,
      period: req.period,
      lang: req.lang,
      generated_at_ms: req.generated_at_ms,
      sites: req.sites,
    },
  );
  if (req.format === "csv") return renderCsv(model);
  if (req.format === "json") return renderJson(model);
  return renderHtml(model);
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A report bound: an ISO date (midnight UTC) or an ISO date-time; without an offset it is read as UTC,
 * because the report states every time in UTC.
 */
export function parseReportTime(text: string, what: string): number {
  const t = text.trim();
  let ms = Number.NaN;
  if (DATE_ONLY.test(t)) ms = Date.parse(`${t}T00:00:00Z`);
  else if (DATE_TIME.test(t)) {
    const iso = t.replace(" ", "T");
    ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? iso : `${iso}Z`);
  }
  if (!Number.isFinite(ms)) {
    throw new QosProbeError("USAGE", `${what} "${text}" is not an ISO date or date-time`, {
      hint: "write 2026-11-01 (midnight UTC) or 2026-11-01T08:00:00+08:00",
    });
  }
  return ms;
}

/** Both bounds, checked: from must come before to. */
export function parseReportRange(from: string, to: string): { from_ms: number; to_ms: number } {
  const from_ms = parseReportTime(from, "--from");
  const to_ms = parseReportTime(to, "--to");
  if (to_ms <= from_ms) {
    throw new QosProbeError("USAGE", `--to ${to} is not after --from ${from}`, {
      hint: "the report covers [from, to): to is exclusive",
    });
  }
  return { from_ms, to_ms };
}
