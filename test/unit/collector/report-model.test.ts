import { describe, expect, it } from "vitest";
import { buildReportFromResults, renderJson, seriesPeriod } from "../../../collector/report/model.js";
import { REPORT_T0, reportFixture, rollupResult } from "../../helpers/rollup-fixtures.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GENERATED = Date.UTC(2026, 2, 3, 8, 30);

describe("buildReport", () => {
  const model = buildReportFromResults(reportFixture(), {
    from_ms: REPORT_T0,
    to_ms: REPORT_T0 + HOUR,
    period: "hour",
    lang: "en",
    generated_at_ms: GENERATED,
    timezone: "UTC",
    sites: [{ site: "bj-01", province: "110000", latitude: 39.9, longitude: 116.4 }],
  });

  it("carries the period and the passed-in generation time", () => {
    expect(model.period).toEqual({
      kind: "hour",
      from: "2026-03-02T00:00:00+00:00",
      to: "2026-03-02T01:00:00+00:00",
      from_ms: REPORT_T0,
      to_ms: REPORT_T0 + HOUR,
    });
    expect(model.generated_at).toBe("2026-03-03T08:30:00+00:00");
    expect(model.timezone).toBe("UTC");
    expect(model.coverage_floor).toBe(0.9);
    expect(model.title).toBe("Internet service quality compliance report");
  });

  it("groups pairs per operator and profile, with the overall verdict of each pair", () => {
    // bj→gz: RTT 40, DV 10, loss 1/100, 12/12 windows → all pass.
    // bj→xj: RTT 250 > 200 → fail, which fails the pair.
    expect(model.operators.map((o) => o.operator)).toEqual(["op-a"]);
    const section = model.operators[0]!.sections[0]!;
    expect(section.profile).toBe("internet-3.2.2");
    expect(section.columns.map((c) => `${c.clause} ${c.requirement}`)).toEqual([
      "3.2.2.1 mean round-trip delay ≤ 200 ms",
      "3.2.2.2 mean delay variation ≤ 80 ms",
      "3.2.2.3 mean packet loss ratio ≤ 2 %",
      "3.2.2.4 availability ≥ 99.9 % (a continuous 5-minute period with loss ≤ 75 % is available)",
    ]);
    expect(section.pairs.map((p) => [p.to, p.overall_verdict, p.overall.mean_rtt_ms])).toEqual([
      ["gz-01", "pass", 40],
      ["xj-01", "fail", 250],
    ]);
    const gz = section.pairs[0]!;
    expect(gz.rows).toHaveLength(1);
    expect(gz.overall.availability).toEqual({
      windows: 12,
      available: 12,
      unavailable: 0,
      unmeasured: 0,
      ratio: 1,
    });
    // 1 hour ≤ 3 days → hourly chart points: one point, [00:00, 01:00); loss 12 × 0.01 / 12 = 0.01
    // (to floating-point rounding of the sum).
    expect(gz.series).toEqual({
      period: "hour",
      points: [
        {
          t_ms: REPORT_T0,
          t_end_ms: REPORT_T0 + HOUR,
          mean_rtt_ms: 40,
          mean_dv_ms: 10,
          mean_loss_ratio: expect.closeTo(0.01, 12),
        },
      ],
    });
  });

  it("places sites from the configuration or else at the province capital", () => {
    expect(model.operators[0]!.sites).toEqual([
      {
        site: "bj-01",
        province: "110000",
        province_name: "Beijing",
        latitude: 39.9,
        longitude: 116.4,
        placed: "config",
      },
      {
        site: "gz-01",
        province: "440000",
        province_name: "Guangdong",
        latitude: 23.1291,
        longitude: 113.2644,
        placed: "province-capital",
      },
      {
        site: "xj-01",
        province: "650000",
        province_name: "Xinjiang",
        latitude: 43.8256,
        longitude: 87.6168,
        placed: "province-capital",
      },
    ]);
    expect(model.operators[0]!.links).toEqual([
      { from: "bj-01", to: "gz-01", distance_km: 1890.4, verdict: "pass" },
      { from: "bj-01", to: "xj-01", distance_km: 2400, verdict: "fail" },
    ]);
  });

  it("folds both directions of a pair into one map link, the worse verdict winning", () => {
    // bj→gz passes (RTT 40); gz→bj fails (RTT 300 > 200): one link, fail.
    const results = [
      rollupResult({ start_ms: REPORT_T0, duration_ms: 5 * 60_000, rtt_mean_ms: 40 }),
      rollupResult({
        start_ms: REPORT_T0,
        duration_ms: 5 * 60_000,
        site: "gz-01",
        province: "440000",
        peer: { site: "bj-01", province: "110000" },
        rtt_mean_ms: 300,
      }),
    ];
    const m = buildReportFromResults(results, {
      from_ms: REPORT_T0,
      to_ms: REPORT_T0 + 5 * 60_000,
      period: "all",
      lang: "zh",
      generated_at_ms: GENERATED,
      timezone: "UTC",
    });
    expect(m.operators[0]!.links).toEqual([
      { from: "bj-01", to: "gz-01", distance_km: 1890.4, verdict: "fail" },
    ]);
    expect(m.title).toBe("互联网业务通信质量合规报告");
  });

  it("computes a distance only from configured coordinates when the results carry none", () => {
    // Beijing (39.9042, 116.4074) → Guangzhou (23.1291, 113.2644): haversine ≈ 1888.6 km.
    const r = rollupResult({ start_ms: REPORT_T0 });
    delete r.test.distance_km;
    const m = buildReportFromResults([r], {
      from_ms: REPORT_T0,
      to_ms: REPORT_T0 + HOUR,
      period: "all",
      lang: "en",
      generated_at_ms: GENERATED,
      timezone: "UTC",
      sites: [
        { site: "bj-01", province: "110000", latitude: 39.9042, longitude: 116.4074 },
        { site: "gz-01", province: "440000", latitude: 23.1291, longitude: 113.2644 },
      ],
    });
    expect(m.operators[0]!.links[0]!.distance_km).toBeCloseTo(1888.6, 0);
    const bare = buildReportFromResults([r], {
      from_ms: REPORT_T0,
      to_ms: REPORT_T0 + HOUR,
      period: "all",
      lang: "en",
      generated_at_ms: GENERATED,
      timezone: "UTC",
    });
    // Province "BJ" is no known province: bj-01 is unplaced and no distance is guessed.
    expect(bare.operators[0]!.sites.map((s) => s.placed)).toEqual(["unplaced", "unplaced"]);
    expect(bare.operators[0]!.links[0]!.distance_km).toBeNull();
  });

  it("is its own JSON format", () => {
    expect(JSON.parse(renderJson(model))).toEqual(model);
  });
});

describe("seriesPeriod", () => {
  it("picks hourly points up to 3 days, daily up to 93 days, monthly beyond", () => {
    expect(seriesPeriod(0, 3 * DAY)).toBe("hour");
    expect(seriesPeriod(0, 3 * DAY + 1)).toBe("day");
    expect(seriesPeriod(0, 93 * DAY)).toBe("day");
    expect(seriesPeriod(0, 365 * DAY)).toBe("month");
  });
});
