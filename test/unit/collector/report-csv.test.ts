import { describe, expect, it } from "vitest";
import { field, renderCsv, UTF8_BOM } from "../../../collector/report/csv.js";
import { buildReportFromResults, type ReportOptions } from "../../../collector/report/model.js";
import { REPORT_T0, reportFixture } from "../../helpers/rollup-fixtures.js";

const HOUR = 3_600_000;
const opts = (lang: "zh" | "en"): ReportOptions => ({
  from_ms: REPORT_T0,
  to_ms: REPORT_T0 + HOUR,
  period: "hour",
  lang,
  generated_at_ms: REPORT_T0 + 2 * HOUR,
});

/** A strict RFC 4180 reader for the test: records end in CRLF, quoted fields may hold anything. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    let value = "";
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error("unterminated quote");
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
    } else {
      const end = text.slice(i).search(/,|\r\n/);
      const stop = end < 0 ? text.length : i + end;
      value = text.slice(i, stop);
      i = stop;
    }
    record.push(value);
    if (text.startsWith("\r\n", i)) {
      records.push(record);
      record = [];
      i += 2;
    } else if (text[i] === ",") {
      i += 1;
    } else if (i < text.length) {
      throw new Error(`unexpected character at ${i}`);
    }
  }
  return records;
}

describe("field", () => {
  it("quotes commas, quotes and line breaks, doubling quotes", () => {
    expect(field("plain")).toBe("plain");
    expect(field("a,b")).toBe('"a,b"');
    expect(field('say "hi"')).toBe('"say ""hi"""');
    expect(field("line1\nline2")).toBe('"line1\nline2"');
    expect(field("cr\rhere")).toBe('"cr\rhere"');
    expect(field(null)).toBe("");
    expect(field(0.01)).toBe("0.01");
  });

  it("defuses text a spreadsheet would run as a formula", () => {
    expect(field("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(field("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(field("+1,2")).toBe(`"'+1,2"`);
    // Numbers are numbers, negative ones too.
    expect(field(-3)).toBe("-3");
  });
});

describe("renderCsv", () => {
  it("starts with a UTF-8 BOM, ends records in CRLF and has one row per pair and bucket", () => {
    const csv = renderCsv(buildReportFromResults(reportFixture(), opts("en")));
    expect(csv.startsWith(UTF8_BOM)).toBe(true);
    expect(csv.endsWith("\r\n")).toBe(true);
    // Header + bj→gz + bj→xj (one hourly bucket each).
    const rows = parseCsv(csv.slice(1));
    expect(rows).toHaveLength(3);
    const header = rows[0]!;
    const gz = Object.fromEntries(header.map((h, i) => [h, rows[1]![i]]));
    // 12 intervals × 100 sent, 1 lost each: 1200 / 12; mean loss 12 × 0.01 / 12 = 0.01; RTT 40.
    expect(gz).toMatchObject({
      Operator: "op-a",
      "From site": "bj-01",
      "To site / target": "gz-01",
      // The default zone, Asia/Shanghai, with its offset; the zone in its own column.
      "Time zone": "Asia/Shanghai",
      "Bucket start": "2026-03-02T08:00:00+08:00",
      "Bucket end": "2026-03-02T09:00:00+08:00",
      Coverage: "1",
      "Expected 5-min windows": "12",
      "Measured 5-min windows": "12",
      Intervals: "12",
      "Packets sent": "1200",
      "Packets lost": "12",
      "Mean RTT (ms)": "40",
      "Mean loss ratio": "0.01",
      Availability: "1",
      "Unmeasured 5-min windows": "0",
      "Verdict 3.2.2.1 mean round-trip delay ≤ 200 ms": "pass",
    });
    const xj = Object.fromEntries(header.map((h, i) => [h, rows[2]![i]]));
    expect(xj["Verdict 3.2.2.1 mean round-trip delay ≤ 200 ms"]).toBe("fail");
  });

  it("writes the header and verdicts in Chinese for zh", () => {
    const rows = parseCsv(renderCsv(buildReportFromResults(reportFixture(), opts("zh"))).slice(1));
    expect(rows[0]!.slice(0, 4)).toEqual(["运营商", "源站点", "源省份", "目的站点／目标"]);
    expect(rows[0]).toContain("判定 3.2.2.1 往返时延平均值≤200毫秒");
    const col = rows[0]!.indexOf("判定 3.2.2.1 往返时延平均值≤200毫秒");
    expect(rows.slice(1).map((r) => r[col])).toEqual(["达标", "不达标"]);
  });

  it("round-trips a site id holding commas, quotes and a newline", () => {
    const site = 'bj,"01"\nsite';
    const rows = parseCsv(renderCsv(buildReportFromResults(reportFixture({ site }), opts("en"))).slice(1));
    expect(rows).toHaveLength(3);
    expect(rows[1]![1]).toBe(site);
  });
});
