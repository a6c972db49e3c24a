import { describe, expect, it } from "vitest";
import {
  mean,
  minMax,
  percentileNearestRank,
  sortedAscending,
  stddevPopulation,
} from "../../../agent/metrics/stats.js";

describe("percentileNearestRank", () => {
  // The textbook nearest-rank example: N = 5, rank = ceil(p/100 · 5).
  const sorted = [15, 20, 35, 40, 50];

  it("picks sorted[ceil(p/100 · N) − 1]", () => {
    expect(percentileNearestRank(sorted, 5)).toBe(15); // ceil(0.25) = 1 → 15
    expect(percentileNearestRank(sorted, 30)).toBe(20); // ceil(1.5) = 2 → 20
    expect(percentileNearestRank(sorted, 40)).toBe(20); // ceil(2.0) = 2 → 20 (exact rank, no step up)
    expect(percentileNearestRank(sorted, 50)).toBe(35); // ceil(2.5) = 3 → 35
    expect(percentileNearestRank(sorted, 99)).toBe(50); // ceil(4.95) = 5 → 50
    expect(percentileNearestRank(sorted, 100)).toBe(50); // ceil(5) = 5 → 50
  });

  it("gives the minimum for p = 0 (rank clamped to 1)", () => {
    expect(percentileNearestRank(sorted, 0)).toBe(15);
  });

  it("takes the lower middle value as the median of an even count", () => {
    // N = 4: ceil(0.5 · 4) = 2 → the 2nd value, 2 (not the interpolated 2.5).
    expect(percentileNearestRank([1, 2, 3, 4], 50)).toBe(2);
  });

  it("is null on no values and refuses p outside 0..100", () => {
    expect(percentileNearestRank([], 50)).toBeNull();
    expect(() => percentileNearestRank(sorted, 101)).toThrow(RangeError);
    expect(() => percentileNearestRank(sorted, -1)).toThrow(RangeError);
    expect(() => percentileNearestRank(sorted, Number.NaN)).toThrow(RangeError);
  });
});

describe("mean, stddevPopulation, minMax, sortedAscending", () => {
  it("computes the population standard deviation (divide by N)", () => {
    // [2,4,4,4,5,5,7,9]: mean = 40/8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32; 32/8 = 4; √4 = 2.
    // (The sample form would be √(32/7) ≈ 2.138.)
    const v = [2, 4, 4, 4, 5, 5, 7, 9];
    expect(mean(v)).toBe(5);
    expect(stddevPopulation(v)).toBe(2);
  });

  it("gives 0 spread for one value and null for none", () => {
    expect(stddevPopulation([7])).toBe(0);
    expect(stddevPopulation([])).toBeNull();
    expect(mean([])).toBeNull();
    expect(minMax([])).toBeNull();
  });

  it("finds min and max and sorts numerically without touching the input", () => {
    const v = [10, 9, 100, -1];
    expect(minMax(v)).toEqual({ min: -1, max: 100 });
    // Numeric, not lexicographic: 100 after 10.
    expect(sortedAscending(v)).toEqual([-1, 9, 10, 100]);
    expect(v).toEqual([10, 9, 100, -1]);
  });
});
