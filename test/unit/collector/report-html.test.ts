import { describe, expect, it } from "vitest";
import { renderHtml } from "../../../collector/report/html.js";
import { buildReportFromResults, type ReportOptions } from "../../../collector/report/model.js";
import { lineChart, niceTicks, project, timeTicks } from "../../../collector/report/svg.js";
import { REPORT_T0, reportFixture } from "../../helpers/rollup-fixtures.js";
import { HOUR_RANGE, underFloor } from "../../helpers/verdict-streams.js";

const HOUR = 3_600_000;
const opts = (lang: "zh" | "en"): ReportOptions => ({
  from_ms: REPORT_T0,
  to_ms: REPORT_T0 + HOUR,
  period: "hour",
  lang,
  generated_at_ms: REPORT_T0 + 2 * HOUR,
});

/** The `<tr …>` of one pair row, found through its data attributes. */
function pairRow(html: string, to: string): string {
  const rows = html.match(/<tr data-testid="pair-row"[^>]*>.*?<\/tr>/g) ?? [];
  const hit = rows.filter((r) => r.includes(`data-to="${to}"`));
  expect(hit).toHaveLength(1);
  return hit[0]!;
}

/** indicator → [data-verdict, cell text] for the verdict cells of one row. */
function verdictCells(row: string): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const m of row.matchAll(/data-testid="verdict-([a-z_]+)" data-verdict="([^"]+)">([^<]*)</g)) {
    out[m[1]!] = [m[2]!, m[3]!];
  }
  return out;
}

describe("renderHtml", () => {
  const en = renderHtml(buildReportFromResults(reportFixture(), opts("en")));
  const zh = renderHtml(buildReportFromResults(reportFixture(), opts("zh")));

  it("says pass or fail in words in each verdict cell", () => {
    // bj→gz: RTT 40 ≤ 200, DV 10 ≤ 80, loss 0.01 ≤ 0.02, availability 12/12 = 100 % ≥ 99.9 %.
    expect(verdictCells(pairRow(en, "gz-01"))).toEqual({
      delay: ["pass", "✔ pass"],
      delay_variation: ["pass", "✔ pass"],
      loss: ["pass", "✔ pass"],
      availability: ["pass", "✔ pass"],
    });
    // bj→xj: RTT 250 > 200 fails; the others pass.
    expect(verdictCells(pairRow(en, "xj-01")).delay).toEqual(["fail", "✘ fail"]);
    expect(verdictCells(pairRow(zh, "xj-01"))).toEqual({
      delay: ["fail", "✘ 不达标"],
      delay_variation: ["pass", "✔ 达标"],
      loss: ["pass", "✔ 达标"],
      availability: ["pass", "✔ 达标"],
    });
  });

  it("shows the values and sample counts behind the verdicts", () => {
    // 12 intervals × 100 sent, 12 lost; mean RTT 250.0; 12 available windows, none unmeasured.
    const row = pairRow(en, "xj-01");
    expect(row).toContain('<td class="num">12</td>');
    expect(row).toContain('<td class="num">1200 / 12</td>');
    expect(row).toContain("250.0<div");
    expect(row).toContain(
      "Available 5-min windows 12 · Unavailable 5-min windows 0 · Unmeasured 5-min windows 0",
    );
    expect(row).toContain("bj-01 (Beijing) → xj-01 (Xinjiang)");
  });

  it("heads the columns with the clause and the requirement, in Chinese for zh", () => {
    expect(zh).toContain('<html lang="zh-CN">');
    for (const text of [
      '<span class="clause">3.2.2.1</span> 往返时延平均值≤200毫秒',
      '<span class="clause">3.2.2.2</span> 时延变化平均值≤80毫秒',
      '<span class="clause">3.2.2.3</span> 包丢失率平均值≤2%',
      '<span class="clause">3.2.2.4</span> IP业务可用性≥99.9%',
      "互联网业务通信质量合规报告",
      "运营商",
    ]) {
      expect(zh).toContain(text);
    }
    expect(en).toContain('<span class="clause">3.2.2.1</span> mean round-trip delay ≤ 200 ms');
  });

  it("references nothing outside the page", () => {
    for (const html of [en, zh]) {
      const withoutXmlns = html.replace(/\sxmlns(:\w+)?="[^"]*"/g, "");
      expect(withoutXmlns).not.toMatch(/https?:\/\//i);
      expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|url\(|@import|@font-face/i);
    }
  });

  it("escapes a hostile site id and operator everywhere", () => {
    const evil = `x"><script>alert(1)</script><img src=x onerror=alert(2)>&`;
    const html = renderHtml(
      buildReportFromResults(reportFixture({ site: evil, operator: `<b>op</b>` }), opts("en")),
    );
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>op</b>");
    expect(html).toContain(
      "x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&amp;",
    );
    expect(html).toContain(`data-operator="&lt;b&gt;op&lt;/b&gt;"`);
  });

  it("draws three charts per pair with the limit dashed, and one map link per site pair", () => {
    // 2 pairs × 3 charts; each chart has one limit line. Map links: bj–gz pass 1890 km, bj–xj fail 2400 km.
    expect(en.match(/data-testid="chart-(rtt|dv|loss)"/g)).toHaveLength(6);
    expect(en.match(/class="limit"/g)).toHaveLength(6);
    expect(en.match(/<svg /g)?.length).toBe(en.match(/<\/svg>/g)?.length);
    const links = [...en.matchAll(/data-testid="map-link" data-verdict="(\w+)">.*?class="dist">([^<]*)</g)];
    expect(links.map((m) => [m[1], m[2]])).toEqual([
      ["pass", "1890 km"],
      ["fail", "2400 km"],
    ]);
  });

  it("says so when there are no results", () => {
    const html = renderHtml(buildReportFromResults([], opts("zh")));
    expect(html).toContain('<p data-testid="no-results">本周期内没有测量结果。</p>');
  });
});

describe("svg helpers", () => {
  it("projects longitude and latitude equirectangularly over 73–135°E, 18–54°N", () => {
    // 10 px per degree, 48 px left and 28 px top padding: (54°N, 73°E) → (48, 28); (18°N, 135°E) → (668, 388).
    expect(project(54, 73)).toEqual({ x: 48, y: 28 });
    expect(project(18, 135)).toEqual({ x: 668, y: 388 });
    // Beijing (39.9042, 116.4074): x = 48 + 43.4074 × 10 = 482.074; y = 28 + 14.0958 × 10 = 168.958.
    const bj = project(39.9042, 116.4074);
    expect(bj.x).toBeCloseTo(482.074, 6);
    expect(bj.y).toBeCloseTo(168.958, 6);
  });

  it("picks 1-2-5 ticks that reach past the maximum", () => {
    // max 240 → raw step 48 → 50: 0, 50, …, 250.
    expect(niceTicks(240)).toEqual([0, 50, 100, 150, 200, 250]);
    // max 0.024 (a 2 % limit × 1.2) → raw 0.0048 → 0.005: 0 … 0.025.
    expect(niceTicks(0.024).map((v) => Number(v.toFixed(6)))).toEqual([0, 0.005, 0.01, 0.015, 0.02, 0.025]);
  });

  it("labels time ticks by hour, day or month", () => {
    // 6 h span: 1 h steps, 7 ticks 00:00 … 06:00.
    expect(timeTicks(REPORT_T0, REPORT_T0 + 6 * HOUR).map((t) => t.label)).toEqual([
      "03-02 00:00",
      "03-02 01:00",
      "03-02 02:00",
      "03-02 03:00",
      "03-02 04:00",
      "03-02 05:00",
      "03-02 06:00",
    ]);
    // 2026-01-01 → 2026-07-01 is 181 days: 181 / 14 ≈ 12.9 ticks > 7, so calendar months, 7 of them.
    expect(timeTicks(Date.UTC(2026, 0, 1), Date.UTC(2026, 6, 1)).map((t) => t.label)).toEqual([
      "2026-01",
      "2026-02",
      "2026-03",
      "2026-04",
      "2026-05",
      "2026-06",
      "2026-07",
    ]);
    // A whole year: 13 month starts, every second one kept (ceil(13 / 7) = 2): Jan, Mar, …, Jan.
    expect(timeTicks(Date.UTC(2026, 0, 1), Date.UTC(2027, 0, 1)).map((t) => t.label)).toEqual([
      "2026-01",
      "2026-03",
      "2026-05",
      "2026-07",
      "2026-09",
      "2026-11",
      "2027-01",
    ]);
  });

  it("breaks the line at a bucket without a value", () => {
    // Points 1, null, 3: two "M" moves, no "L" bridging the gap; two dots.
    const svg = lineChart({
      title: "t",
      x_label: "x",
      from_ms: 0,
      to_ms: 3,
      points: [
        { t_ms: 0.5, value: 1 },
        { t_ms: 1.5, value: null },
        { t_ms: 2.5, value: 3 },
      ],
      format: String,
    });
    const d = svg.match(/<path d="([^"]*)"/)?.[1] ?? "";
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d).not.toContain("L");
    expect(svg.match(/<circle/g)).toHaveLength(2);
  });
});

describe("renderHtml: insufficient data", () => {
  const hour = { ...HOUR_RANGE, period: "all" as const, generated_at_ms: HOUR_RANGE.to_ms + HOUR };
  const en = renderHtml(buildReportFromResults(underFloor, { ...hour, lang: "en", timezone: "UTC" }));
  const zh = renderHtml(buildReportFromResults(underFloor, { ...hour, lang: "zh", timezone: "UTC" }));

  it("marks it with a partly filled circle and its word, and says why under it", () => {
    // 10 of 12 windows measured: 83.3 % < 90 %, every verdict insufficient.
    const cells = [...en.matchAll(/data-verdict="insufficient">([^<]*)<div class="detail">([^<]*)<\/div>/g)];
    expect(cells).toHaveLength(4);
    for (const [, mark, why] of cells) {
      expect(mark).toBe("◔ insufficient data");
      expect(why).toBe("only 10 of 12 windows measured, under the 90% floor");
    }
    expect(zh).toContain('◔ 数据不足<div class="detail">仅测量 10 / 12 个时段，低于 90% 下限</div>');
    expect(en).not.toMatch(/data-verdict="insufficient">\?/);
  });

  it("explains the mark once in the header, in both languages", () => {
    expect(en).toContain(
      '<p class="note" data-testid="insufficient-note">◔ insufficient data: fewer 5-minute windows were measured than the coverage floor asks',
    );
    expect(zh).toContain('<p class="note" data-testid="insufficient-note">◔ 数据不足：');
  });
});
