import { esc } from "./escape.js";
import { formatInZone, type Lang, label } from "./i18n.js";
import type { ReportGapRow } from "./model.js";

/**
 * The report's "Delivery gaps" section (issue 7): per agent with a heartbeat, what the store holds
 * against what the agent says it produced, dropped and still holds. Same table style as html-table.ts.
 */

/** Ranges shown per agent before "… and N more": an agent that lost every other seq stays one line. */
export const MAX_RANGES_SHOWN = 10;

export function gapsSection(gaps: readonly ReportGapRow[] | undefined, lang: Lang, zone: string): string {
  // Not computed (a report built from result messages has no site_status): no section at all.
  if (!gaps) return "";
  const head =
    `<section data-testid="delivery-gaps"><h2>${esc(label(lang, "gaps_title"))}</h2>` +
    `<p class="note">${esc(label(lang, "gaps_note"))}</p>`;
  if (gaps.length === 0) {
    return `${head}<p data-testid="gaps-none">${esc(label(lang, "gaps_no_agents"))}</p></section>`;
  }
  const withGaps = gaps.filter((g) => g.missing > 0);
  const summary = withGaps.length
    ? `<p data-testid="gaps-some" data-agents="${withGaps.length}">${esc(label(lang, "gaps_some"))}: ` +
      `${withGaps.length} / ${gaps.length}</p>`
    : `<p data-testid="gaps-none">${esc(label(lang, "gaps_none"))}</p>`;
  const cols = [
    "gaps_agent",
    "gaps_stored",
    "gaps_highest",
    "gaps_missing",
    "gaps_ranges",
    "gaps_dropped",
    "gaps_depth",
    "gaps_next_seq",
    "gaps_last_heartbeat",
  ] as const;
  const header = cols.map((c) => `<th scope="col">${esc(label(lang, c))}</th>`).join("");
  const body = gaps.map((g) => gapRow(g, lang, zone)).join("");
  return (
    `${head}${summary}<div class="scroll"><table class="compliance" data-testid="gaps-table">` +
    `<thead><tr>${header}</tr></thead><tbody>${body}</tbody></table></div></section>`
  );
}

function gapRow(g: ReportGapRow, lang: Lang, zone: string): string {
  const num = (v: number | null) => `<td class="num">${v === null ? "—" : v}</td>`;
  const heartbeat = g.last_heartbeat === null ? "—" : formatInZone(Date.parse(g.last_heartbeat), zone);
  return (
    `<tr data-testid="gaps-row" data-operator="${esc(g.operator)}" data-site="${esc(g.site)}" data-missing="${g.missing}">` +
    `<th scope="row">${esc(`${g.operator}/${g.site}`)}</th>` +
    num(g.stored) +
    num(g.highest) +
    `<td class="num${g.missing > 0 ? " fail" : ""}">${g.missing}</td>` +
    `<td data-testid="gaps-ranges">${esc(rangeList(g.missing_ranges, lang))}</td>` +
    num(g.heartbeat_dropped) +
    num(g.heartbeat_depth) +
    num(g.heartbeat_next_seq) +
    `<td>${esc(heartbeat)}</td></tr>`
  );
}

/** "4, 6–7, … and 3 more": the first MAX_RANGES_SHOWN ranges, then how many ranges are left out. */
export function rangeList(ranges: readonly (readonly [number, number])[], lang: Lang): string {
  if (ranges.length === 0) return "—";
  const shown = ranges.slice(0, MAX_RANGES_SHOWN).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
  const rest = ranges.length - shown.length;
  if (rest > 0) shown.push(label(lang, "gaps_more").replace("{n}", String(rest)));
  return shown.join(", ");
}
