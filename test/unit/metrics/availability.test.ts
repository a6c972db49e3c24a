import { describe, expect, it } from "vitest";
import { QosProbeError } from "../../../agent/errors.js";
import {
  type AvailabilityWindow,
  classifyWindows,
  summarizeAvailability,
  WINDOW_MS,
} from "../../../agent/metrics/availability.js";

const MIN = 60_000;
/** 2024-01-01T00:00:00Z, a window boundary (epoch ms divisible by 300 000). */
const T0 = Date.UTC(2024, 0, 1);

describe("classifyWindows", () => {
  it("uses 5-minute windows", () => {
    expect(WINDOW_MS).toBe(5 * MIN);
  });

  it("calls exactly 75 % loss available", () => {
    // 100 sent, 75 lost in one window: 75/100 = 0.75 ≤ 0.75 → available.
    const w = classifyWindows(
      [{ start_ms: T0, end_ms: T0 + 5 * MIN, sent: 100, lost: 75 }],
      T0,
      T0 + 5 * MIN,
    );
    expect(w).toEqual([{ start_ms: T0, sent: 100, lost: 75, loss_ratio: 0.75, state: "available" }]);
  });

  it("calls 75.1 % loss unavailable", () => {
    // 751/1000 = 0.751 > 0.75.
    const w = classifyWindows(
      [{ start_ms: T0, end_ms: T0 + 5 * MIN, sent: 1000, lost: 751 }],
      T0,
      T0 + 5 * MIN,
    );
    expect(w[0]?.loss_ratio).toBe(0.751);
    expect(w[0]?.state).toBe("unavailable");
  });

  it("splits an interval across a boundary by time overlap, and adds intervals in one window", () => {
    // Interval A: 00:03:20 → 00:05:20 (120 s), 120 sent, 108 lost. 100 s in window 0, 20 s in window 1:
    //   window 0 gets 120·100/120 = 100 sent, 108·100/120 = 90 lost → 0.9 → unavailable;
    //   window 1 gets 120·20/120 = 20 sent, 108·20/120 = 18 lost.
    // Interval B: 00:05:20 → 00:10:00, 280 sent, 2 lost, all in window 1.
    //   window 1 total: 300 sent, 20 lost → 20/300 = 0.0667 → available.
    const a = { start_ms: T0 + 200_000, end_ms: T0 + 320_000, sent: 120, lost: 108 };
    const b = { start_ms: T0 + 320_000, end_ms: T0 + 600_000, sent: 280, lost: 2 };
    const w = classifyWindows([a, b], T0, T0 + 10 * MIN);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatchObject({ start_ms: T0, sent: 100, lost: 90, loss_ratio: 0.9, state: "unavailable" });
    expect(w[1]).toMatchObject({ start_ms: T0 + 5 * MIN, sent: 300, lost: 20, state: "available" });
    expect(w[1]?.loss_ratio).toBeCloseTo(20 / 300, 12);
  });

  it("keeps exactly 75 % available when proportional splitting leaves rounding noise", () => {
    // One interval 00:00:01 → 00:15:01 (900 s), 4 sent, 3 lost (75 %). Window 0 overlaps 299 s:
    // 4·299/900 = 1.3289 sent, 3·299/900 = 0.9967 lost, ratio 0.75 exactly on paper, but the float
    // division gives 0.7500000000000001. Windows 1, 2 (300 s each) and 3 (1 s) are 0.75 as well.
    const w = classifyWindows(
      [{ start_ms: T0 + 1000, end_ms: T0 + 901_000, sent: 4, lost: 3 }],
      T0,
      T0 + 901_000,
    );
    expect(w).toHaveLength(4);
    expect(w[0]?.sent).toBeCloseTo((4 * 299) / 900, 12);
    expect(w[0]?.lost).toBeCloseTo((3 * 299) / 900, 12);
    expect(w[0]?.loss_ratio).toBeGreaterThan(0.75);
    expect(w.map((x) => x.state)).toEqual(["available", "available", "available", "available"]);
  });

  it("marks an hour with no probes as 12 unmeasured windows, never available", () => {
    // 60 min / 5 min = 12 windows, nothing sent in any of them.
    const w = classifyWindows([], T0, T0 + 60 * MIN);
    expect(w).toHaveLength(12);
    expect(w.every((x) => x.state === "unmeasured" && x.sent === 0 && x.loss_ratio === null)).toBe(true);
    expect(w[11]?.start_ms).toBe(T0 + 55 * MIN);
    expect(summarizeAvailability(w)).toEqual({
      windows: 12,
      available: 0,
      unavailable: 0,
      unmeasured: 12,
      ratio: null,
    });
  });

  it("rounds an unaligned period outward to whole windows", () => {
    // 00:02 → 00:13 rounds to 00:00 → 00:15: windows at 00:00, 00:05, 00:10.
    const w = classifyWindows([], T0 + 2 * MIN, T0 + 13 * MIN);
    expect(w.map((x) => x.start_ms)).toEqual([T0, T0 + 5 * MIN, T0 + 10 * MIN]);
    // An aligned end is not rounded further: 00:00 → 00:10 is exactly 2 windows.
    expect(classifyWindows([], T0, T0 + 10 * MIN)).toHaveLength(2);
  });

  it("ignores the part of an interval outside the period", () => {
    // Interval 23:55 → 00:05 (600 s), 60 sent, 60 lost; the period starts at 00:00, so window 0 gets
    // the half inside: 30 sent, 30 lost → 1.0 → unavailable.
    const w = classifyWindows(
      [{ start_ms: T0 - 5 * MIN, end_ms: T0 + 5 * MIN, sent: 60, lost: 60 }],
      T0,
      T0 + 5 * MIN,
    );
    expect(w).toEqual([{ start_ms: T0, sent: 30, lost: 30, loss_ratio: 1, state: "unavailable" }]);
  });

  it("puts a zero-length interval wholly in the window holding its start", () => {
    const w = classifyWindows(
      [{ start_ms: T0 + 6 * MIN, end_ms: T0 + 6 * MIN, sent: 4, lost: 1 }],
      T0,
      T0 + 10 * MIN,
    );
    expect(w[0]?.state).toBe("unmeasured");
    expect(w[1]).toMatchObject({ sent: 4, lost: 1, loss_ratio: 0.25, state: "available" });
  });

  it("accepts another window length", () => {
    // 1-minute windows over 3 minutes → 3 windows.
    expect(classifyWindows([], T0, T0 + 3 * MIN, MIN)).toHaveLength(3);
  });

  it("refuses a reversed period or a non-positive window", () => {
    expect(() => classifyWindows([], T0 + 1, T0)).toThrow(QosProbeError);
    expect(() => classifyWindows([], T0, T0 + MIN, 0)).toThrow(/positive/);
  });
});

describe("summarizeAvailability", () => {
  const win = (state: AvailabilityWindow["state"]): AvailabilityWindow => ({
    start_ms: 0,
    sent: state === "unmeasured" ? 0 : 10,
    lost: state === "unavailable" ? 10 : 0,
    loss_ratio: state === "unmeasured" ? null : state === "unavailable" ? 1 : 0,
    state,
  });

  it("divides available by measured windows, leaving unmeasured out", () => {
    // 3 available, 1 unavailable, 2 unmeasured → ratio 3 / (3 + 1) = 0.75.
    const states = [
      "available",
      "unmeasured",
      "available",
      "unavailable",
      "unmeasured",
      "available",
    ] as const;
    expect(summarizeAvailability(states.map(win))).toEqual({
      windows: 6,
      available: 3,
      unavailable: 1,
      unmeasured: 2,
      ratio: 0.75,
    });
  });

  it("is null on no windows", () => {
    expect(summarizeAvailability([]).ratio).toBeNull();
  });
});
