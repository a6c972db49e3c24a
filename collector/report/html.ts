import { PROFILE_THRESHOLDS } from "../../agent/compliance/thresholds.js";
import { configurationSection } from "./config-html.js";
import { esc } from "./escape.js";
import { evidenceSection } from "./evidence-html.js";
import { gapsSection } from "./gaps-html.js";
import { faultTable, sectionTable } from "./html-table.js";
import { formatInZone, formatPercent, type Lang, label, verdictWord } from "./i18n.js";
import type { ReportModel, ReportOperator, ReportPair, SeriesPoint } from "./model.js";
import { lineChart, siteMap } from "./svg.js";

/**
 * The publishable report: one self-contained HTML page. No script, no external stylesheet, font, image
 * or link target: inline CSS and inline SVG only, so it renders the same with the network off and can
 * be archived as one file. The Content-Security-Policy meta tag makes the browser enforce that.
 */
export function renderHtml(model: ReportModel): string {
  const lang = model.lang;
  const zone = model.timezone;
  const period = `${formatInZone(model.period.from_ms, zone)} – ${formatInZone(model.period.to_ms, zone)}`;
  const body = model.operators.length
    ? model.operators.map((op) => operatorSection(op, model, lang)).join("")
    : `<p data-testid="no-results">${esc(label(lang, "no_results"))}</p>`;
  return (
    "<!doctype html>" +
    `<html lang="${lang === "zh" ? "zh-CN" : "en"}"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(model.title)}</title><style>${CSS}</style></head><body>` +
    `<header><h1>${esc(model.title)}</h1><dl>` +
    `<dt>${esc(label(lang, "period"))}</dt><dd data-testid="report-period">${esc(period)}</dd>` +
    `<dt>${esc(label(lang, "generated_at"))}</dt><dd>${esc(model.generated_at)}</dd>` +
    `<dt>${esc(label(lang, "timezone"))}</dt><dd data-testid="report-timezone">${esc(zone)}</dd>` +
    `<dt>${esc(label(lang, "coverage_floor"))}</dt><dd>${esc(formatPercent(model.coverage_floor, 0))}</dd>` +
    `</dl><p class="note">${esc(label(lang, "times_in_zone"))}</p>` +
    `<p class="note">${esc(label(lang, "coverage_note"))}</p>` +
    `<p class="note" data-testid="insufficient-note">${esc(label(lang, "insufficient_note"))}</p>` +
    `<p class="note">${esc(label(lang, "method_note"))}</p></header>` +
    `<main>${body}${gapsSection(model.gaps, lang, zone)}${configurationSection(model.configuration, lang, zone)}${evidenceSection(model.evidence, lang)}</main></body></html>`
  );
}

function operatorSection(op: ReportOperator, model: ReportModel, lang: Lang): string {
  const parts: string[] = [`<h2>${esc(label(lang, "operator"))}: ${esc(op.operator)}</h2>`];
  const c = op.coverage;
  parts.push(
    `<p data-testid="operator-coverage" data-coverage="${c.ratio ?? ""}">${esc(label(lang, "coverage"))}: ` +
      `${esc(formatPercent(c.ratio, 1))} (${c.measured} / ${c.expected} · ${esc(label(lang, "coverage_floor"))} ` +
      `${esc(formatPercent(c.floor, 0))})</p>`,
  );
  parts.push(`<h3>${esc(label(lang, "map"))}</h3>`);
  parts.push(
    siteMap({
      title: `${label(lang, "map")} — ${op.operator}`,
      note: `${label(lang, "map_note")} ${label(lang, "site_capital_note")}`,
      sites: op.sites.flatMap((s) =>
        s.latitude === null || s.longitude === null
          ? []
          : [
              {
                id: s.site,
                latitude: s.latitude,
                longitude: s.longitude,
                approximate: s.placed !== "config",
              },
            ],
      ),
      links: op.links.map((l) => ({
        from: l.from,
        to: l.to,
        verdict: l.verdict,
        label: l.distance_km === null ? "" : `${Math.round(l.distance_km)} km`,
      })),
      verdictText: (v) => verdictWord(lang, v),
      testid: "site-map",
    }),
  );
  const unplaced = op.sites.filter((s) => s.placed === "unplaced").map((s) => s.site);
  if (unplaced.length) {
    parts.push(`<p class="note">${esc(label(lang, "site_unplaced"))}: ${esc(unplaced.join(", "))}</p>`);
  }
  for (const section of op.sections) {
    parts.push(`<h3>${esc(section.title)}</h3>`);
    parts.push(`<div class="scroll">${sectionTable(section, lang, model.timezone)}</div>`);
    for (const pair of section.pairs) parts.push(pairCharts(pair, model, lang));
  }
  parts.push(`<h3>${esc(label(lang, "faults_title"))}</h3>`);
  parts.push(`<div class="scroll">${faultTable(op, lang)}</div>`);
  return `<section class="operator" data-testid="operator" data-operator="${esc(op.operator)}">${parts.join("")}</section>`;
}

/** RTT, delay variation and loss over time for one pair, each with its limit as a dashed line. */
function pairCharts(pair: ReportPair, model: ReportModel, lang: Lang): string {
  const t = PROFILE_THRESHOLDS[pair.profile];
  const points = pair.series.points;
  const x_label = label(lang, "chart_time");
  const range = { from_ms: model.period.from_ms, to_ms: model.period.to_ms, x_label, zone: model.timezone };
  // A one-way profile (voip-4.2) judges RTT ÷ 2 when clocks are not synced, i.e. RTT against twice
  // the one-way limit; the RTT chart draws that equivalent and says so.
  const rttLimit =
    t.delay_kind === "round-trip"
      ? { value: t.delay_ms, label: label(lang, "threshold") }
      : { value: 2 * t.delay_ms, label: label(lang, "threshold_one_way_x2") };
  // Number(toFixed) drops trailing zeros: "250 ms" on an axis, "12.5 ms" where it matters.
  const ms = (v: number): string => `${Number(v.toFixed(1))} ms`;
  const charts = [
    lineChart({
      ...range,
      title: `${label(lang, "chart_rtt")} (ms)`,
      points: along(points, (p) => p.mean_rtt_ms),
      threshold: rttLimit,
      format: ms,
      testid: "chart-rtt",
    }),
    lineChart({
      ...range,
      title: `${label(lang, "chart_dv")} (ms)`,
      points: along(points, (p) => p.mean_dv_ms),
      threshold: { value: t.delay_variation_ms, label: label(lang, "threshold") },
      format: ms,
      testid: "chart-dv",
    }),
    lineChart({
      ...range,
      title: label(lang, "chart_loss"),
      points: along(points, (p) => p.mean_loss_ratio),
      threshold: { value: t.loss_ratio, label: label(lang, "threshold") },
      format: (v) => `${Number((v * 100).toFixed(2))}%`,
      testid: "chart-loss",
    }),
  ];
  const heading = `${pair.from_site} → ${pair.to} · ${pair.test_id} · ${pair.method} ${pair.packet_size_bytes} B · ${t.title[lang]}`;
  return (
    `<section class="charts" data-testid="pair-charts" data-from="${esc(pair.from_site)}" data-to="${esc(pair.to)}" data-test="${esc(pair.test_id)}">` +
    `<h4>${esc(heading)}</h4><div class="chart-row">${charts.join("")}</div></section>`
  );
}

/** Points at bucket midpoints: a bucket's mean describes the whole bucket, not its first instant. */
function along(points: readonly SeriesPoint[], pick: (p: SeriesPoint) => number | null) {
  return points.map((p) => ({ t_ms: (p.t_ms + p.t_end_ms) / 2, value: pick(p) }));
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
margin:0 auto;max-width:1400px;padding:1rem 1.5rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
h3{margin-top:1.5rem}h4{margin:1rem 0 .3rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.note{color:#57606a;font-size:.9rem}
.scroll{overflow-x:auto}
table.compliance{border-collapse:collapse;font-size:.85rem}
table.compliance th,table.compliance td{border:1px solid #d0d7de;padding:.3rem .5rem;vertical-align:top}
table.compliance thead th{background:#f6f8fa}
.clause{font-family:ui-monospace,monospace;font-weight:400;color:#57606a}
td.num{text-align:right;white-space:nowrap}
.detail{font-size:.75rem;color:#57606a;white-space:normal}
tr.overall{font-weight:600;border-top:2px solid #57606a}
td.verdict{font-weight:600;white-space:nowrap}
td.pass{background:#dafbe1;color:#116329}
td.fail{background:#ffebe9;color:#a40e26}
td.insufficient{background:#eaeef2;color:#424a53}
td.num.insufficient{background:#fff8c5;color:#4d2d00}
td.na{color:#57606a}
.chart-row{display:flex;flex-wrap:wrap;gap:.5rem}
svg{max-width:100%;height:auto;font-size:11px}
svg .ct{font-weight:600;font-size:12px}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#57606a}
svg .yt{text-anchor:end;dominant-baseline:middle;fill:#57606a}
svg .xt,svg .xl{text-anchor:middle;fill:#57606a}
svg .limit{stroke:#cf222e;stroke-dasharray:6 4;stroke-width:1.5}
svg .lt{text-anchor:end;fill:#cf222e}
svg .series{fill:none;stroke:#0969da;stroke-width:1.5}svg .dot{fill:#0969da}
svg .frame{fill:#f6f8fa;stroke:#d0d7de}
svg .site{fill:#1f2328}svg .site.approx{fill:#fff;stroke:#1f2328;stroke-width:1.5}
svg .sl{font-size:11px;fill:#1f2328}
svg .dist{text-anchor:middle;font-size:10px;fill:#1f2328;paint-order:stroke;stroke:#f6f8fa;stroke-width:3}
svg .lg{dominant-baseline:middle}
svg .lk-pass{stroke:#1a7f37;stroke-width:2.5}
svg .lk-fail{stroke:#cf222e;stroke-width:2.5;stroke-dasharray:8 4}
svg .lk-insuf{stroke:#6e7781;stroke-width:2;stroke-dasharray:2 4}
figure.map{margin:0}figcaption{color:#57606a;font-size:.85rem}
@media print{h2{break-before:page}.scroll{overflow:visible}}
`;
