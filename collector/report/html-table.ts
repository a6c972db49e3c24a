import type { VerdictValue } from "../../agent/publish/message.js";
import type { PairRollup } from "../rollup.js";
import { esc } from "./escape.js";
import { basisWord, formatInZone, formatMs, formatPercent, type Lang, label, verdictWord } from "./i18n.js";
import type { ReportColumn, ReportOperator, ReportPair, ReportSection } from "./model.js";

/**
 * The compliance table of one profile section: one row per pair and bucket, each requirement as a
 * value column and a verdict column headed by the spec clause and its wording.
 */
export function sectionTable(section: ReportSection, lang: Lang, zone: string): string {
  const head1 = [
    th(label(lang, "pair"), 2),
    th(label(lang, "method"), 2),
    th(label(lang, "bucket"), 2),
    th(label(lang, "distance_km"), 2),
    th(label(lang, "coverage"), 2),
    th(label(lang, "intervals"), 2),
    th(`${label(lang, "packets_sent")} / ${label(lang, "packets_lost")}`, 2),
    ...section.columns.map(
      (c) =>
        `<th colspan="2" scope="colgroup"><span class="clause">${esc(c.clause)}</span> ${esc(c.requirement)}</th>`,
    ),
  ].join("");
  const head2 = section.columns
    .map(
      () =>
        `<th scope="col">${esc(label(lang, "value"))}</th><th scope="col">${esc(label(lang, "verdict"))}</th>`,
    )
    .join("");
  const body = section.pairs.flatMap((pair) => pairRows(pair, section.columns, lang, zone)).join("");
  return (
    `<table class="compliance" data-testid="compliance-table" data-profile="${esc(section.profile)}">` +
    `<thead><tr>${head1}</tr><tr>${head2}</tr></thead><tbody>${body}</tbody></table>`
  );
}

function th(text: string, rowspan: number): string {
  return `<th rowspan="${rowspan}" scope="col">${esc(text)}</th>`;
}

function pairRows(pair: ReportPair, columns: readonly ReportColumn[], lang: Lang, zone: string): string[] {
  const rows = pair.rows.map((r) => row(pair, r, columns, lang, false, zone));
  // Several buckets: add the whole period as one more row, the figure a monthly publication quotes.
  if (pair.rows.length > 1) rows.push(row(pair, pair.overall, columns, lang, true, zone));
  return rows;
}

function row(
  pair: ReportPair,
  r: PairRollup,
  columns: readonly ReportColumn[],
  lang: Lang,
  overall: boolean,
  zone: string,
): string {
  const toProvince = pair.to_province_name ?? pair.to_province;
  const to = toProvince ? `${pair.to} (${toProvince})` : pair.to;
  const from = `${pair.from_site} (${pair.from_province_name ?? pair.from_province})`;
  const attrs = [
    `data-testid="${overall ? "pair-overall-row" : "pair-row"}"`,
    `data-operator="${esc(pair.operator)}"`,
    `data-from="${esc(pair.from_site)}"`,
    `data-to="${esc(pair.to)}"`,
    `data-profile="${esc(pair.profile)}"`,
    `data-method="${esc(pair.method)}"`,
    `data-test="${esc(pair.test_id)}"`,
    `data-packet-size="${pair.packet_size_bytes}"`,
    `data-bucket-start="${new Date(r.bucket_start_ms).toISOString()}"`,
  ].join(" ");
  const bucket = overall
    ? label(lang, "overall_row")
    : `${formatInZone(r.bucket_start_ms, zone)} – ${formatInZone(r.bucket_end_ms, zone)}`;
  const cells = [
    `<th scope="row">${esc(`${from} → ${to}`)}</th>`,
    td(`${pair.method} · ${pair.test_id} · ${pair.packet_size_bytes} B`),
    td(bucket),
    td(r.distance_km === null ? "—" : Math.round(r.distance_km).toString(), "num"),
    coverageCell(r),
    intervalsCell(r, lang),
    td(`${r.packets.sent} / ${r.packets.lost}`, "num"),
    ...columns.map((c) => valueCell(c, r, lang) + verdictCell(c, r, lang)),
  ];
  return `<tr ${attrs}${overall ? ' class="overall"' : ""}>${cells.join("")}</tr>`;
}

function td(text: string, cls?: string): string {
  return `<td${cls ? ` class="${cls}"` : ""}>${esc(text)}</td>`;
}

/** The judged value with what it rests on (how many intervals, which basis), so a reader can weigh it. */
function valueCell(c: ReportColumn, r: PairRollup, lang: Lang): string {
  const v = r.verdicts;
  let main: string;
  let detail: string;
  switch (c.indicator) {
    case "delay":
      main = formatMs(v.delay_ms);
      detail = `${basisWord(lang, v.delay_basis)} · n=${r.rtt_intervals}`;
      break;
    case "delay_variation": {
      main = formatMs(r.mean_dv_ms);
      // The judged basis first; any other basis beside it, never averaged in.
      const others = (["round-trip", "one-way-forward", "one-way-reverse"] as const)
        .filter((b) => b !== r.dv_basis && r.dv[b].intervals > 0)
        .map((b) => `${basisWord(lang, b)} ${formatMs(r.dv[b].mean_ms)} (n=${r.dv[b].intervals})`);
      detail = [
        `${r.dv_basis === null ? "—" : basisWord(lang, r.dv_basis)} · n=${r.dv_intervals}`,
        ...others,
        ...(r.dv_excluded_few > 0 ? [`${label(lang, "dv_excluded_few")} ${r.dv_excluded_few}`] : []),
      ].join(" · ");
      break;
    }
    case "loss":
      main = formatPercent(r.mean_loss_ratio, 2);
      detail = `n=${r.loss_intervals} · ${label(lang, "pooled_loss")} ${formatPercent(r.pooled_loss_ratio, 2)}`;
      break;
    case "availability": {
      const a = r.availability;
      main = formatPercent(a.ratio, 3);
      detail =
        `${label(lang, "windows_available")} ${a.available} · ${label(lang, "windows_unavailable")} ${a.unavailable}` +
        ` · ${label(lang, "windows_unmeasured")} ${a.unmeasured}`;
      break;
    }
  }
  return `<td class="num">${esc(main)}<div class="detail">${esc(detail)}</div></td>`;
}

/** Coverage beside every mean: measured of expected windows, marked when under the floor. */
function coverageCell(r: PairRollup): string {
  const c = r.coverage;
  const cls = c.sufficient ? "num" : "num insufficient";
  return (
    `<td class="${cls}" data-testid="coverage" data-coverage="${c.ratio ?? ""}">${esc(formatPercent(c.ratio, 1))}` +
    `<div class="detail">${esc(`${c.measured} / ${c.expected}`)}</div></td>`
  );
}

/** Intervals, and beside them the ones kept out of verdicts and why. */
function intervalsCell(r: PairRollup, lang: Lang): string {
  const notes: string[] = [];
  const add = (key: Parameters<typeof label>[1], n: number) => {
    if (n > 0) notes.push(`${label(lang, key)} ${n}`);
  };
  add("error_intervals", r.error_intervals);
  add("fault_intervals", r.fault_intervals);
  add("flagged_integrity", r.flagged.integrity);
  add("flagged_timing", r.flagged.timing);
  add("flagged_unsynced", r.flagged.unsynced);
  add("diagnostic_intervals", r.diagnostic_intervals);
  const detail = notes.length ? `<div class="detail">${esc(notes.join(" · "))}</div>` : "";
  return `<td class="num">${r.intervals}${detail}</td>`;
}

/** Per pair and code: the faults and errors an operator must fix (they are not path loss). */
export function faultTable(op: ReportOperator, lang: Lang): string {
  const rows = op.sections.flatMap((s) =>
    s.pairs.flatMap((p) =>
      p.faults.map(
        (f) =>
          `<tr data-testid="fault-row" data-from="${esc(p.from_site)}" data-to="${esc(p.to)}" data-test="${esc(p.test_id)}" data-code="${esc(f.code)}">` +
          `<th scope="row">${esc(`${p.from_site} → ${p.to} · ${p.test_id}`)}</th>${td(f.status)}${td(f.code)}` +
          `${td(String(f.count), "num")}${td(f.last_at)}${td(f.last_message)}</tr>`,
      ),
    ),
  );
  if (rows.length === 0)
    return `<p class="note" data-testid="no-faults">${esc(label(lang, "faults_none"))}</p>`;
  const head = (
    ["pair", "fault_status", "fault_code", "fault_count", "fault_last_at", "fault_last_message"] as const
  )
    .map((k) => `<th scope="col">${esc(label(lang, k))}</th>`)
    .join("");
  return `<table class="compliance" data-testid="fault-table"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** ◔ a circle partly filled: partly measured, not judged (a "?" read as a rendering fault). */
const MARK: Record<VerdictValue, string> = { pass: "✔", fail: "✘", insufficient: "◔" };

/** Why a verdict is insufficient, under the verdict: too little coverage, or nothing to judge. */
function insufficientWhy(r: PairRollup, lang: Lang): string {
  const c = r.coverage;
  if (c.sufficient) return label(lang, "insufficient_no_interval");
  return label(lang, "insufficient_coverage")
    .replace("{measured}", String(c.measured))
    .replace("{expected}", String(c.expected))
    .replace("{floor}", formatPercent(c.floor, 0));
}

function verdictCell(c: ReportColumn, r: PairRollup, lang: Lang): string {
  const v = r.verdicts;
  const verdict =
    c.indicator === "delay"
      ? v.rtt
      : c.indicator === "delay_variation"
        ? v.delay_variation
        : c.indicator === "loss"
          ? v.loss
          : v.availability;
  if (verdict === null) {
    return `<td class="verdict na" data-testid="verdict-${c.indicator}" data-verdict="n/a">${esc(verdictWord(lang, null))}</td>`;
  }
  return (
    `<td class="verdict ${verdict}" data-testid="verdict-${c.indicator}" data-verdict="${verdict}">` +
    `${MARK[verdict]} ${esc(verdictWord(lang, verdict))}` +
    (verdict === "insufficient" ? `<div class="detail">${esc(insufficientWhy(r, lang))}</div>` : "") +
    "</td>"
  );
}
