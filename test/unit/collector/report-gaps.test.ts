import { describe, expect, it } from "vitest";
import type { AgentGaps } from "../../../collector/gaps.js";
import { renderHtml } from "../../../collector/report/html.js";
import { buildReport, type ReportOptions, renderJson } from "../../../collector/report/model.js";

const T0 = Date.parse("2026-11-01T00:00:00+08:00");
const opts = (lang: "zh" | "en"): ReportOptions => ({
  from_ms: T0,
  to_ms: T0 + 86_400_000,
  period: "day",
  lang,
  generated_at_ms: T0 + 2 * 86_400_000,
  timezone: "Asia/Shanghai",
});

const gap = (extra: Partial<AgentGaps>): AgentGaps => ({
  operator: "unicom",
  province: "110000",
  site: "bj-01",
  stored: 4,
  highest: 8,
  missing_ranges: [],
  missing: 0,
  heartbeat_dropped: 0,
  heartbeat_depth: 0,
  heartbeat_next_seq: 9,
  last_heartbeat: new Date("2026-11-02T04:05:06Z"),
  ...extra,
});

const withGaps = gap({
  stored: 5,
  missing_ranges: [
    [4, 4],
    [6, 7],
  ],
  missing: 3,
  heartbeat_dropped: 1,
});
// 12 one-seq holes: 2, 4, …, 24; the list shows 10 and says 2 more.
const many = gap({
  site: "<xj-01>",
  stored: 13,
  highest: 25,
  missing_ranges: Array.from({ length: 12 }, (_, i) => [2 * i + 2, 2 * i + 2] as [number, number]),
  missing: 12,
  heartbeat_dropped: null,
  heartbeat_depth: null,
  heartbeat_next_seq: null,
  last_heartbeat: null,
});

const model = (rows: AgentGaps[] | undefined, lang: "zh" | "en" = "en") =>
  buildReport({ buckets: [], aggregates: [], faults: [], ...(rows ? { gaps: rows } : {}) }, opts(lang));

/** The text of the `<tr data-testid="gaps-row" …>` of one site, tags stripped, cells joined by "|". */
function gapRowText(html: string, site: string): string {
  const rows = html.match(/<tr data-testid="gaps-row"[^>]*>.*?<\/tr>/g) ?? [];
  const hit = rows.filter((r) => r.includes(`data-site="${site}"`));
  expect(hit).toHaveLength(1);
  return hit[0]!
    .replace(/<\/t[hd]><t[hd][^>]*>/g, "|")
    .replace(/<[^>]+>/g, "")
    .trim();
}

describe("delivery gaps in the report", () => {
  it("puts JSON-safe gap rows in the model, the heartbeat in the report's zone", () => {
    const json = JSON.parse(renderJson(model([withGaps])));
    expect(json.gaps).toEqual([
      {
        operator: "unicom",
        province: "110000",
        site: "bj-01",
        stored: 5,
        highest: 8,
        missing_ranges: [
          [4, 4],
          [6, 7],
        ],
        missing: 3,
        heartbeat_dropped: 1,
        heartbeat_depth: 0,
        heartbeat_next_seq: 9,
        last_heartbeat: "2026-11-02T12:05:06+08:00",
      },
    ]);
    // Not computed (no site_status at hand): no key at all, and no section.
    expect("gaps" in model(undefined)).toBe(false);
    expect(renderHtml(model(undefined))).not.toContain('data-testid="delivery-gaps"');
  });

  it("lists per agent stored, highest, missing ranges and the heartbeat's figures", () => {
    const html = renderHtml(model([withGaps, gap({ site: "gz-01" })]));
    expect(html).toContain('<section data-testid="delivery-gaps"><h2>Delivery gaps</h2>');
    expect(html).toContain('<p data-testid="gaps-some" data-agents="1">');
    expect(html).not.toContain('data-testid="gaps-none"');
    expect(gapRowText(html, "bj-01")).toBe("unicom/bj-01|5|8|3|4, 6–7|1|0|9|2026-11-02 12:05 +08:00");
    expect(gapRowText(html, "gz-01")).toBe("unicom/gz-01|4|8|0|—|0|0|9|2026-11-02 12:05 +08:00");
  });

  it("truncates a long range list with … and N more, escapes site ids, shows unknowns as —", () => {
    const en = renderHtml(model([many]));
    expect(en).toContain('data-site="&lt;xj-01&gt;"');
    expect(en).not.toContain("<xj-01>");
    expect(gapRowText(en, "&lt;xj-01&gt;")).toBe(
      "unicom/&lt;xj-01&gt;|13|25|12|2, 4, 6, 8, 10, 12, 14, 16, 18, 20, … and 2 more|—|—|—|—",
    );
    const zh = renderHtml(model([many], "zh"));
    expect(zh).toContain("<h2>投递缺口</h2>");
    expect(gapRowText(zh, "&lt;xj-01&gt;")).toContain("18, 20, ……另有 2 段|");
  });

  it("says so in one line when no agent has a gap, and when no agent has reported", () => {
    const none = renderHtml(model([gap({}), gap({ site: "gz-01" })]));
    expect(none).toContain(
      '<p data-testid="gaps-none">No delivery gaps: every agent&#39;s results up to its highest stored number are stored.</p>',
    );
    expect(none.match(/data-testid="gaps-row"/g)).toHaveLength(2);
    expect(renderHtml(model([], "zh"))).toContain('<p data-testid="gaps-none">尚无代理发送心跳。</p>');
  });
});
