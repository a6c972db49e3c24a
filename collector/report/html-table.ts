import type { VerdictValue } from "../../agent/publish/message.js";
import type { PairRollup } from "../rollup.js";
import { esc } from "./escape.js";
import { basisWord, formatMs, formatPercent, formatUtc, type Lang, label, verdictWord } from "./i18n.js";
import type { ReportColumn, ReportPair, ReportSection } from "./model.js";

/**
 * The compliance table of one profile section: one row per pair and bucket, each requirement as a
 * value column and a verdict column headed by the spec clause and its wording.
 */
export function sectionTable(section: ReportSection, lang: Lang): string {
  const head1 = [
    th(label(lang, "pair"), 2),
    th(label(lang, "method"), 2),
    th(label(lang, "bucket"), 2),
    th(label(lang, "distance_km"), 2),
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
  const body = section.pairs.flatMap((pair) => pairRows(pair, section.columns, lang)).join("");
  return (
    `<table class="compliance" data-testid="compliance-table" data-profile="${esc(section.profile)}">` +
    `<thead><tr>${head1}</tr><tr>${head2}</tr></thead><tbody>${body}</tbody></table>`
  );
}

function th(text: string, rowspan: number): string {
  return `<th rowspan="${rowspan}" scope="col">${esc(text)}</th>`;
}

function pairRows(pair: ReportPair, columns: readonly ReportColumn[], lang: Lang): string[] {
  const rows = pair.rows.map((r) => row(pair, r, columns, lang, false));
  // Several buckets: add the whole period as one more row, the figure a monthly publication quotes.
  if (pair.rows.length > 1) rows.push(row(pair, pair.overall, columns, lang, true));
  return rows;
}

function row(
  pair: ReportPair,
  r: PairRollup,
  columns: readonly ReportColumn[],
  lang: Lang,
  overall: boolean,
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
    `data-bucket-start="${new Date(r.bucket_start_ms).toISOString()}"`,
  ].join(" ");
  const bucket = overall
    ? label(lang, "overall_row")
    : `${formatUtc(r.bucket_start_ms)} – ${formatUtc(r.bucket_end_ms)}`;
  const cells = [
    `<th scope="row">${esc(`${from} → ${to}`)}</th>`,
    td(pair.method),
    td(bucket),
    td(r.distance_km === null ? "—" : Math.round(r.distance_km).toString(), "num"),
    td(
      `${r.intervals}${r.error_intervals > 0 ? ` (${label(lang, "error_intervals")} ${r.error_intervals})` : ""}`,
      "num",
    ),
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
      detail = `${basisWord(lang, v.delay_basis)} · n=${r.rtt_intervals} · p95 ${formatMs(r.p95_rtt_ms)}`;
      break;
    case "delay_variation":
      main = formatMs(r.mean_dv_ms);
      detail = `${r.dv_bases.map((b) => basisWord(lang, b)).join(", ") || "—"} · n=${r.dv_intervals}`;
      break;
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

const MARK: Record<VerdictValue, string> = { pass: "✔", fail: "✘", insufficient: "?" };

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
    `${MARK[verdict]} ${esc(verdictWord(lang, verdict))}</td>`
  );
}
