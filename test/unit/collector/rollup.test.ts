import { describe, expect, it } from "vitest";
import { QosProbeError } from "../../../agent/errors.js";
import { bucketsOf, type PairRollup, rollup } from "../../../collector/rollup.js";
import { rollupResult } from "../../helpers/rollup-fixtures.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
/** 2026-03-02T00:00:00Z: a window, hour and day boundary. */
const T0 = Date.UTC(2026, 2, 2);

function only(rows: PairRollup[]): PairRollup {
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

describe("rollup availability", () => {
  it("calls a window at exactly 75 % loss available, the other 11 unmeasured", () => {
    // One 5-minute interval, 100 sent, 75 lost: 75/100 = 0.75 ≤ 0.75 → available.
    // Hour = 12 windows: 1 available, 0 unavailable, 11 unmeasured; ratio = 1/1 = 1 ≥ 0.999 → pass.
    // Mean loss 0.75 > 0.02 → loss fails: availability and loss are judged separately.
    const r = only(
      rollup([rollupResult({ start_ms: T0, duration_ms: 5 * MIN, sent: 100, lost: 75 })], {
        from_ms: T0,
        to_ms: T0 + HOUR,
        period: "hour",
      }),
    );
    expect(r.availability).toEqual({ windows: 12, available: 1, unavailable: 0, unmeasured: 11, ratio: 1 });
    expect(r.verdicts.availability).toBe("pass");
    expect(r.mean_loss_ratio).toBe(0.75);
    expect(r.verdicts.loss).toBe("fail");
  });

  it("splits an interval crossing a window boundary by time", () => {
    // A: [00:04, 00:06) 120 sent, 120 lost → 60 sent / 60 lost in each of windows 0 and 1.
    // B: [00:00, 00:04) 80 sent, 0 lost → window 0 only.
    // Window 0: 140 sent, 60 lost → 0.4286 ≤ 0.75 available. Window 1: 60/60 = 1 → unavailable.
    // 10 windows unmeasured; ratio = 1 / (1 + 1) = 0.5 → fail.
    const r = only(
      rollup(
        [
          rollupResult({
            start_ms: T0 + 4 * MIN,
            duration_ms: 2 * MIN,
            sent: 120,
            lost: 120,
            rtt_mean_ms: null,
          }),
          rollupResult({ start_ms: T0, duration_ms: 4 * MIN, sent: 80, lost: 0 }),
        ],
        { from_ms: T0, to_ms: T0 + HOUR, period: "hour" },
      ),
    );
    expect(r.availability).toEqual({ windows: 12, available: 1, unavailable: 1, unmeasured: 10, ratio: 0.5 });
    expect(r.verdicts.availability).toBe("fail");
  });

  it("gives an hour with no probes 12 unmeasured windows, a null ratio and insufficient verdicts", () => {
    // Probes only in the first hour; the second hour still gets a row for the pair.
    const rows = rollup([rollupResult({ start_ms: T0 + 10 * MIN, sent: 100, lost: 1 })], {
      from_ms: T0,
      to_ms: T0 + 2 * HOUR,
      period: "hour",
    });
    expect(rows).toHaveLength(2);
    const empty = rows[1]!;
    expect(empty.bucket_start_ms).toBe(T0 + HOUR);
    expect(empty.intervals).toBe(0);
    expect(empty.availability).toEqual({
      windows: 12,
      available: 0,
      unavailable: 0,
      unmeasured: 12,
      ratio: null,
    });
    expect(empty.verdicts).toMatchObject({
      rtt: "insufficient",
      delay_variation: "insufficient",
      loss: "insufficient",
      availability: "insufficient",
    });
    expect(empty.mean_rtt_ms).toBeNull();
    expect(empty.pooled_loss_ratio).toBeNull();
  });

  it("counts an interval crossing an hour boundary in the hour it starts, but splits its windows", () => {
    // [00:58, 01:02) 40 sent, 0 lost: the means belong to hour 0 (start), availability splits
    // 20 sent into 00:55–01:00 and 20 into 01:00–01:05: each hour has 1 measured window, available.
    const rows = rollup([rollupResult({ start_ms: T0 + 58 * MIN, duration_ms: 4 * MIN, sent: 40 })], {
      from_ms: T0,
      to_ms: T0 + 2 * HOUR,
      period: "hour",
    });
    expect(rows.map((r) => r.intervals)).toEqual([1, 0]);
    expect(rows.map((r) => r.availability.available)).toEqual([1, 1]);
    expect(rows.map((r) => r.availability.unmeasured)).toEqual([11, 11]);
  });
});

describe("rollup means", () => {
  it("averages per-interval loss ratios, and pools separately for comparison", () => {
    // Interval 1: 10 lost of 100 = 0.1. Interval 2: 0 lost of 1000 = 0.
    // Mean of ratios = (0.1 + 0) / 2 = 0.05 > 0.02 → fail.
    // Pooled = 10 / 1100 = 0.00909… ≤ 0.02: the busy clean interval would hide the bad one.
    const r = only(
      rollup(
        [
          rollupResult({ start_ms: T0, sent: 100, lost: 10 }),
          rollupResult({ start_ms: T0 + MIN, sent: 1000, lost: 0 }),
        ],
        { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
      ),
    );
    expect(r.mean_loss_ratio).toBeCloseTo(0.05, 12);
    expect(r.pooled_loss_ratio).toBeCloseTo(10 / 1100, 12);
    expect(r.packets).toEqual({ sent: 1100, lost: 10 });
    expect(r.verdicts.loss).toBe("fail");
  });

  it("averages per-interval RTT means and DV, and takes the nearest-rank p95 of the means", () => {
    // RTT means 10, 20, 30, 40, 250 → mean 350 / 5 = 70 ≤ 200 pass; p95 rank ceil(0.95·5) = 5 → 250.
    // DV 10, 20, 30, 40, 100 → mean 200 / 5 = 40 ≤ 80 pass; all round-trip.
    const rtts = [10, 20, 30, 40, 250];
    const dvs = [10, 20, 30, 40, 100];
    const r = only(
      rollup(
        rtts.map((rtt, i) => rollupResult({ start_ms: T0 + i * MIN, rtt_mean_ms: rtt, dv_ms: dvs[i]! })),
        { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
      ),
    );
    expect(r.mean_rtt_ms).toBe(70);
    expect(r.p95_rtt_ms).toBe(250);
    expect(r.mean_dv_ms).toBe(40);
    expect(r.dv_bases).toEqual(["round-trip"]);
    expect(r.verdicts).toMatchObject({ rtt: "pass", delay_variation: "pass", delay_ms: 70 });
  });

  it("counts error results as intervals and leaves them out of the RTT mean", () => {
    // 3 intervals: RTT 30 and 50, and one error with nothing sent.
    // intervals 3, errors 1, RTT mean over the two = 40, loss mean over the two that sent = 0.
    const r = only(
      rollup(
        [
          rollupResult({ start_ms: T0, rtt_mean_ms: 30 }),
          rollupResult({ start_ms: T0 + MIN, rtt_mean_ms: 50 }),
          rollupResult({
            start_ms: T0 + 2 * MIN,
            status: "error",
            sent: 0,
            rtt_mean_ms: null,
            dv_ms: null,
          }),
        ],
        { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
      ),
    );
    expect(r).toMatchObject({
      intervals: 3,
      error_intervals: 1,
      rtt_intervals: 2,
      mean_rtt_ms: 40,
      loss_intervals: 2,
      mean_loss_ratio: 0,
    });
  });

  it("judges voip one-way delay only when every delayed interval had one, else RTT / 2", () => {
    // Both intervals synced: forward means 150 and 250 → 200 ≤ 400 pass, basis one-way.
    const synced = only(
      rollup(
        [
          rollupResult({ start_ms: T0, profile: "voip-4.2", rtt_mean_ms: 300, forward_ms: 150 }),
          rollupResult({ start_ms: T0 + MIN, profile: "voip-4.2", rtt_mean_ms: 500, forward_ms: 250 }),
        ],
        { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
      ),
    );
    expect(synced.mean_one_way_ms).toBe(200);
    expect(synced.verdicts).toMatchObject({ delay_basis: "one-way", delay_ms: 200, availability: null });
    // One interval lacks one-way: RTT mean (300 + 900) / 2 = 600, halved = 300.
    const mixed = only(
      rollup(
        [
          rollupResult({ start_ms: T0, profile: "voip-4.2", rtt_mean_ms: 300, forward_ms: 150 }),
          rollupResult({ start_ms: T0 + MIN, profile: "voip-4.2", rtt_mean_ms: 900 }),
        ],
        { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
      ),
    );
    expect(mixed.mean_one_way_ms).toBeNull();
    expect(mixed.verdicts).toMatchObject({ delay_basis: "round-trip-half", delay_ms: 300, rtt: "pass" });
  });
});

describe("rollup grouping and buckets", () => {
  it("puts intervals either side of a month boundary into their calendar months", () => {
    // Range 2026-01-15 → 2026-02-15, monthly: [01-15, 02-01) and [02-01, 02-15), clipped to the range.
    // 01-31T23:59 (RTT 30) is January; 02-01T00:00 (RTT 90) is February.
    const from = Date.UTC(2026, 0, 15);
    const feb1 = Date.UTC(2026, 1, 1);
    const to = Date.UTC(2026, 1, 15);
    const rows = rollup(
      [
        rollupResult({ start_ms: feb1 - MIN, rtt_mean_ms: 30 }),
        rollupResult({ start_ms: feb1, rtt_mean_ms: 90 }),
      ],
      { from_ms: from, to_ms: to, period: "month" },
    );
    expect(rows.map((r) => [r.bucket_start_ms, r.bucket_end_ms])).toEqual([
      [from, feb1],
      [feb1, to],
    ]);
    expect(rows.map((r) => r.mean_rtt_ms)).toEqual([30, 90]);
    // January part: 17 days × 288 windows = 4896 windows, one of them measured.
    expect(rows[0]?.availability).toMatchObject({ windows: 4896, available: 1, unmeasured: 4895 });
  });

  it("rolls December over into January of the next year", () => {
    const dec = Date.UTC(2025, 11, 1);
    expect(bucketsOf("month", dec, Date.UTC(2026, 1, 1))).toEqual([
      [dec, Date.UTC(2026, 0, 1)],
      [Date.UTC(2026, 0, 1), Date.UTC(2026, 1, 1)],
    ]);
  });

  it("groups by operator, pair, profile and method, using the target when there is no peer", () => {
    const rows = rollup(
      [
        rollupResult({ start_ms: T0 }),
        rollupResult({ start_ms: T0 + MIN }),
        rollupResult({ start_ms: T0, method: "icmp" }),
        rollupResult({ start_ms: T0, operator: "op-b" }),
        rollupResult({ start_ms: T0, peer: null, target: "icmp://203.0.113.9", method: "icmp" }),
      ],
      { from_ms: T0, to_ms: T0 + HOUR, period: "all" },
    );
    // 4 groups: op-a stamp bj→gz (2 intervals), op-a icmp bj→gz, op-a icmp bj→target, op-b stamp.
    expect(rows.map((r) => [r.operator, r.method, r.to, r.to_kind, r.intervals])).toEqual([
      ["op-a", "icmp", "gz-01", "site", 1],
      ["op-a", "stamp", "gz-01", "site", 2],
      ["op-a", "icmp", "icmp://203.0.113.9", "target", 1],
      ["op-b", "stamp", "gz-01", "site", 1],
    ]);
  });

  it("leaves diagnostic runs out unless asked for", () => {
    // Regular RTT 40, diagnostic RTT 400: without it mean 40; with it (40 + 400) / 2 = 220.
    const results = [
      rollupResult({ start_ms: T0, rtt_mean_ms: 40 }),
      rollupResult({ start_ms: T0 + MIN, rtt_mean_ms: 400, diagnostic: true }),
    ];
    const opts = { from_ms: T0, to_ms: T0 + HOUR, period: "all" } as const;
    expect(only(rollup(results, opts)).mean_rtt_ms).toBe(40);
    expect(only(rollup(results, { ...opts, include_diagnostic: true })).mean_rtt_ms).toBe(220);
  });

  it("refuses an empty range", () => {
    expect(() => rollup([], { from_ms: T0, to_ms: T0, period: "day" })).toThrow(QosProbeError);
  });
});
