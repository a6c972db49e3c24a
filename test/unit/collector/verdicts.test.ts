import { describe, expect, it } from "vitest";
import { applyCoverage, coverageOf, expectedWindows } from "../../../collector/coverage.js";
import {
  buildReportFromResults,
  type ReportModel,
  type ReportPair,
} from "../../../collector/report/model.js";
import {
  allStreams,
  dvMixed,
  flagged,
  HOUR_RANGE,
  halfMeasured,
  interval,
  keyMismatch,
  loss75,
  MIN,
  monthBoundary,
  onePacket,
  refusedPort,
  routeLost,
  underFloor,
} from "../../helpers/verdict-streams.js";

/**
 * The verdict rules of issue 9 on crafted streams, through windows.ts (the TypeScript twin of the
 * store's SQL; test/integration/collector/verdicts.test.ts holds the SQL to the same numbers).
 */

const LATER = Date.UTC(2026, 3, 1);

function report(): ReportModel {
  return buildReportFromResults(allStreams, {
    ...HOUR_RANGE,
    period: "all",
    lang: "en",
    generated_at_ms: LATER,
    timezone: "UTC",
  });
}

function pair(model: ReportModel, test: string, size = 128): ReportPair {
  const p = model.operators
    .flatMap((o) => o.sections.flatMap((s) => s.pairs))
    .find((x) => x.test_id === test && x.packet_size_bytes === size);
  if (!p) throw new Error(`no pair for ${test}`);
  return p;
}

describe("verdicts from crafted streams", () => {
  const model = report();

  it("a route lost mid-window makes windows unavailable, not unmeasured", () => {
    // 60 one-minute intervals; from 00:32 all 60 of 60 lost. Window 6: 180 / 300 lost = 60 % → available.
    const r = pair(model, "route-lost").overall;
    expect(routeLost).toHaveLength(60);
    expect(r.availability).toEqual({
      windows: 12,
      available: 7,
      unavailable: 5,
      unmeasured: 0,
      ratio: 7 / 12,
    });
    expect(r.coverage).toMatchObject({ expected: 12, measured: 12, ratio: 1, sufficient: true });
    // Mean loss: 28 intervals at 1.0, 32 at 0 → 28 / 60.
    expect(r.mean_loss_ratio).toBeCloseTo(28 / 60, 12);
    expect(r.verdicts.availability).toBe("fail");
    expect(r.verdicts.loss).toBe("fail");
  });

  it("a key mismatch is a fault: out of path loss, against coverage, in the fault table", () => {
    const p = pair(model, "key-mismatch");
    const r = p.overall;
    expect(keyMismatch.filter((x) => x.status === "fault")).toHaveLength(6);
    expect(r.fault_intervals).toBe(6);
    expect(r.mean_loss_ratio).toBe(0);
    expect(r.loss_intervals).toBe(6);
    expect(r.coverage).toMatchObject({ expected: 12, measured: 6, ratio: 0.5, sufficient: false });
    expect(r.verdicts).toMatchObject({
      rtt: "insufficient",
      delay_variation: "insufficient",
      loss: "insufficient",
      availability: "insufficient",
    });
    expect(p.faults).toEqual([
      {
        status: "fault",
        code: "STAMP_HMAC",
        count: 6,
        last_at: "2026-03-02T00:55:00+00:00",
        last_message: "HMAC mismatch from 198.51.100.7 (11)",
      },
    ]);
  });

  it("a refused port leaves nothing measured and a fault row of 12", () => {
    const p = pair(model, "refused-port");
    expect(refusedPort).toHaveLength(12);
    expect(p.overall.coverage.measured).toBe(0);
    expect(p.overall.mean_loss_ratio).toBeNull();
    expect(p.overall.availability.unmeasured).toBe(12);
    expect(p.overall_verdict).toBe("insufficient");
    expect(p.faults.map((f) => [f.code, f.count])).toEqual([["PORT_UNREACHABLE", 12]]);
  });

  it("an interval with one received packet has no delay variation", () => {
    const r = pair(model, "one-packet").overall;
    expect(onePacket[4]?.packets.received).toBe(1);
    expect(r.mean_dv_ms).toBe(10);
    expect(r.dv_intervals).toBe(11);
    expect(r.dv_excluded_few).toBe(1);
    // 99 of 100 lost in window 4 → unavailable.
    expect(r.availability).toMatchObject({ available: 11, unavailable: 1 });
  });

  it("exactly 75 % loss is available; 76 % is not", () => {
    const r = pair(model, "loss-75").overall;
    expect(loss75[0]?.packets.lost).toBe(75);
    expect(r.availability).toMatchObject({ available: 11, unavailable: 1, unmeasured: 0 });
    expect(r.mean_loss_ratio).toBeCloseTo((11 * 0.75 + 0.76) / 12, 12);
  });

  it("a window probed for half its time is measured; 149 s of 300 is not", () => {
    const r = pair(model, "half").overall;
    expect(halfMeasured[0]?.interval.end).toBe("2026-03-02T00:02:30.000Z");
    expect(r.availability).toMatchObject({ available: 11, unavailable: 0, unmeasured: 1 });
    // 11 / 12 = 91.7 % ≥ 90 %: just over the floor, so the verdicts stand.
    expect(r.coverage.ratio).toBeCloseTo(11 / 12, 12);
    expect(r.verdicts).toMatchObject({
      rtt: "pass",
      delay_variation: "pass",
      loss: "pass",
      availability: "pass",
    });
  });

  it("coverage just under the floor makes every verdict insufficient", () => {
    const r = pair(model, "under-floor").overall;
    expect(underFloor).toHaveLength(10);
    expect(r.coverage.ratio).toBeCloseTo(10 / 12, 12);
    expect(r.mean_rtt_ms).toBe(40);
    expect(r.verdicts).toMatchObject({
      rtt: "insufficient",
      loss: "insufficient",
      availability: "insufficient",
    });
  });

  it("keeps flagged intervals out of the means and counts them beside", () => {
    const r = pair(model, "flagged").overall;
    expect(flagged[1]?.quality.flags).toEqual(["host-timing"]);
    expect(r.flagged).toEqual({ integrity: 2, timing: 1, unsynced: 1 });
    expect(r.mean_rtt_ms).toBe(40);
    expect(r.rtt_intervals).toBe(9);
    expect(r.mean_dv_ms).toBe(10);
    // Host timing keeps its loss; aborted and below-light-bound do not count at all.
    expect(r.loss_intervals).toBe(10);
    expect(r.coverage.measured).toBe(10);
  });

  it("never averages one-way and round-trip delay variation together", () => {
    const r = pair(model, "dv-mixed").overall;
    expect(dvMixed).toHaveLength(12);
    expect(r.dv["round-trip"]).toEqual({ mean_ms: 10, intervals: 6 });
    expect(r.dv["one-way-forward"]).toEqual({ mean_ms: 50, intervals: 6 });
    expect(r.dv_basis).toBe("round-trip");
    expect(r.mean_dv_ms).toBe(10);
  });

  it("keys rollups by packet size too", () => {
    expect(pair(model, "sizes", 128).overall.mean_rtt_ms).toBe(40);
    expect(pair(model, "sizes", 1400).overall.mean_rtt_ms).toBe(60);
  });
});

describe("report time zone", () => {
  it("puts 2026-10-31T16:30Z in November in Asia/Shanghai, and prints offsets", () => {
    const model = buildReportFromResults(monthBoundary, {
      from_ms: Date.parse("2026-10-01T00:00:00+08:00"),
      to_ms: Date.parse("2026-12-01T00:00:00+08:00"),
      period: "month",
      lang: "en",
      generated_at_ms: Date.UTC(2026, 11, 5),
      timezone: "Asia/Shanghai",
    });
    const p = model.operators[0]?.sections[0]?.pairs[0];
    expect(model.timezone).toBe("Asia/Shanghai");
    expect(model.period.from).toBe("2026-10-01T00:00:00+08:00");
    expect(p?.rows.map((r) => [new Date(r.bucket_start_ms).toISOString(), r.intervals])).toEqual([
      ["2026-09-30T16:00:00.000Z", 1],
      ["2026-10-31T16:00:00.000Z", 1],
    ]);
    // The 15:55Z interval is October 31, 23:55 in Beijing.
    expect(monthBoundary[1]?.interval.start).toBe("2026-10-31T15:55:00.000Z");
  });
});

describe("coverage", () => {
  it("counts aligned windows up to now", () => {
    const t = Date.UTC(2026, 0, 1);
    expect(expectedWindows(t, t + 3_600_000, t + 7_200_000)).toBe(12);
    expect(expectedWindows(t, t + 3_600_000, t + 30 * 60_000)).toBe(6);
    expect(expectedWindows(t + 1, t + 600_000, Number.POSITIVE_INFINITY)).toBe(1);
  });

  it("ends the expected windows at now: the window still running and later ones are not expected", () => {
    const t = Date.UTC(2026, 0, 1);
    // now = t + 32.5 min: windows 0..5 ended, window 6 (t+30 → t+35) is running, 7..11 are ahead.
    expect(expectedWindows(t, t + 3_600_000, t + 32 * MIN + 30_000)).toBe(6);
    expect(expectedWindows(t, t + 3_600_000, t + 35 * MIN)).toBe(7);
    expect(expectedWindows(t + 40 * MIN, t + 3_600_000, t + 32 * MIN)).toBe(0);
  });

  it("a pair measured every minute up to now is fully covered in a period partly in the future", () => {
    // The hour [T0, T0 + 1 h) at T0 + 32.5 min, one-minute results from T0 to T0 + 32 min.
    const now = HOUR_RANGE.from_ms + 32 * MIN + 30_000;
    const results = Array.from({ length: 32 }, (_, m) =>
      interval({ test: "up-to-now", start_ms: HOUR_RANGE.from_ms + m * MIN, dur_ms: MIN }),
    );
    const model = buildReportFromResults(results, {
      ...HOUR_RANGE,
      period: "all",
      lang: "en",
      generated_at_ms: now,
      timezone: "UTC",
    });
    const r = pair(model, "up-to-now").overall;
    expect(r.coverage).toEqual({ expected: 6, measured: 6, ratio: 1, floor: 0.9, sufficient: true });
    expect(r.availability).toMatchObject({ windows: 6, unmeasured: 0 });
    expect(model.operators[0]?.coverage).toMatchObject({ expected: 6, measured: 6, ratio: 1 });
  });

  it("is sufficient at exactly the floor, insufficient just below", () => {
    expect(coverageOf(9, 10, 0.9).sufficient).toBe(true);
    expect(coverageOf(899, 1000, 0.9).sufficient).toBe(false);
    const v = {
      profile: "internet-3.2.2" as const,
      delay_basis: "round-trip" as const,
      delay_ms: 40,
      rtt: "pass" as const,
      delay_variation: "pass" as const,
      loss: "fail" as const,
      availability: "pass" as const,
    };
    expect(applyCoverage(v, coverageOf(899, 1000, 0.9))).toMatchObject({
      rtt: "insufficient",
      loss: "insufficient",
      availability: "insufficient",
    });
  });
});
