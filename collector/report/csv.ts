import type { VerdictValue } from "../../agent/publish/message.js";
import type { PairRollup } from "../rollup.js";
import { isoInZone } from "../timezone.js";
import { basisWord, type LabelKey, type Lang, label, verdictWord } from "./i18n.js";
import { columnsFor, type ReportModel, type ReportPair } from "./model.js";

/**
 * The report as CSV: one row per operator × pair × period bucket, header in the report's language.
 * RFC 4180: CRLF line ends, a field with a comma, double quote, CR or LF is quoted and its quotes are
 * doubled. Hand-written because that is the whole of the format; a CSV library would add a dependency
 * for six lines. Numbers are plain (dot decimal, no grouping) so any tool reads them back.
 */

/**
 * Excel guesses the encoding of a CSV without a byte-order mark from the system code page (GBK on a
 * Chinese Windows), which garbles UTF-8 Chinese; the UTF-8 BOM makes it read UTF-8.
 */
export const UTF8_BOM = "\uFEFF";

type Cell = string | number | null;

type Getter = (p: ReportPair, r: PairRollup, lang: Lang, zone: string) => Cell;

/** Every time carries its offset, and the zone has its own column: a CSV row never loses its clock. */
const COLUMNS: Array<[LabelKey, Getter]> = [
  ["operator", (p) => p.operator],
  ["from_site", (p) => p.from_site],
  ["from_province", (p) => p.from_province],
  ["to", (p) => p.to],
  ["to_province", (p) => p.to_province],
  ["test_id", (p) => p.test_id],
  ["profile", (p) => p.profile],
  ["method", (p) => p.method],
  ["packet_size", (p) => p.packet_size_bytes],
  ["timezone", (_p, _r, _l, zone) => zone],
  ["bucket_start", (_p, r, _l, zone) => isoInZone(r.bucket_start_ms, zone)],
  ["bucket_end", (_p, r, _l, zone) => isoInZone(r.bucket_end_ms, zone)],
  ["distance_km", (_p, r) => round(r.distance_km, 1)],
  ["coverage", (_p, r) => round(r.coverage.ratio, 6)],
  ["windows_expected", (_p, r) => r.coverage.expected],
  ["windows_measured", (_p, r) => r.coverage.measured],
  ["intervals", (_p, r) => r.intervals],
  ["error_intervals", (_p, r) => r.error_intervals],
  ["fault_intervals", (_p, r) => r.fault_intervals],
  ["flagged_integrity", (_p, r) => r.flagged.integrity],
  ["flagged_timing", (_p, r) => r.flagged.timing],
  ["flagged_unsynced", (_p, r) => r.flagged.unsynced],
  ["diagnostic_intervals", (_p, r) => r.diagnostic_intervals],
  ["packets_sent", (_p, r) => r.packets.sent],
  ["packets_lost", (_p, r) => r.packets.lost],
  ["mean_rtt_ms", (_p, r) => round(r.mean_rtt_ms, 3)],
  ["mean_one_way_ms", (_p, r) => round(r.mean_one_way_ms, 3)],
  ["delay_judged_ms", (_p, r) => round(r.verdicts.delay_ms, 3)],
  ["delay_basis", (_p, r, lang) => basisWord(lang, r.verdicts.delay_basis)],
  ["mean_dv_ms", (_p, r) => round(r.mean_dv_ms, 3)],
  ["dv_basis", (_p, r, lang) => (r.dv_basis === null ? null : basisWord(lang, r.dv_basis))],
  ["mean_dv_round_trip_ms", (_p, r) => round(r.dv["round-trip"].mean_ms, 3)],
  ["mean_dv_one_way_forward_ms", (_p, r) => round(r.dv["one-way-forward"].mean_ms, 3)],
  ["mean_dv_one_way_reverse_ms", (_p, r) => round(r.dv["one-way-reverse"].mean_ms, 3)],
  ["dv_excluded_few", (_p, r) => r.dv_excluded_few],
  ["mean_loss", (_p, r) => round(r.mean_loss_ratio, 6)],
  ["pooled_loss", (_p, r) => round(r.pooled_loss_ratio, 6)],
  ["availability", (_p, r) => round(r.availability.ratio, 6)],
  ["windows_available", (_p, r) => r.availability.available],
  ["windows_unavailable", (_p, r) => r.availability.unavailable],
  ["windows_unmeasured", (_p, r) => r.availability.unmeasured],
];

type VerdictIndicator = "delay" | "delay_variation" | "loss" | "availability";

const VERDICTS: Array<[VerdictIndicator, (r: PairRollup) => VerdictValue | null]> = [
  ["delay", (r) => r.verdicts.rtt],
  ["delay_variation", (r) => r.verdicts.delay_variation],
  ["loss", (r) => r.verdicts.loss],
  ["availability", (r) => r.verdicts.availability],
];

export function renderCsv(model: ReportModel): string {
  const lang = model.lang;
  const header = [
    ...COLUMNS.map(([key]) => label(lang, key)),
    ...VERDICTS.map(([id]) => `${label(lang, "verdict")} ${requirementHeader(model, id)}`),
  ];
  const lines = [header.map(field).join(",")];
  for (const op of model.operators) {
    for (const section of op.sections) {
      for (const pair of section.pairs) {
        for (const r of pair.rows) {
          const cells: Cell[] = COLUMNS.map(([, get]) => get(pair, r, lang, model.timezone));
          for (const [, get] of VERDICTS) cells.push(verdictWord(lang, get(r)));
          lines.push(cells.map(field).join(","));
        }
      }
    }
  }
  // RFC 4180 §2: each record ends in CRLF, the last one optionally; end it for tools that expect it.
  return UTF8_BOM + lines.map((l) => `${l}\r\n`).join("");
}

/**
 * Verdict columns are headed by clause and requirement, like the HTML table: every profile in the
 * report joined ("3.2.2.1 … / 4.2.2 …"), or the internet profile's when the report is empty.
 */
function requirementHeader(model: ReportModel, id: VerdictIndicator): string {
  const sections = model.operators.flatMap((op) => op.sections);
  const profiles = sections.length
    ? [...new Set(sections.map((s) => s.profile))]
    : (["internet-3.2.2"] as const);
  return profiles
    .flatMap((profile) => columnsFor(profile, model.lang).filter((c) => c.indicator === id))
    .map((c) => `${c.clause} ${c.requirement}`)
    .join(" / ");
}

/**
 * One RFC 4180 field. Text starting with = + - @ (or a tab / CR) is prefixed with ' so a spreadsheet
 * shows it instead of evaluating it: site ids come from configuration files (OWASP "CSV injection").
 */
export function field(value: Cell): string {
  if (value === null) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function round(v: number | null, digits: number): number | null {
  if (v === null) return null;
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}
