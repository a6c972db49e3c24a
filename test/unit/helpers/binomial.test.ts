import { describe, expect, it } from "vitest";
import { binomialInterval } from "../../helpers/binomial.js";

describe("binomialInterval", () => {
  it("matches the hand-computed 95 % interval of Binomial(10, 0.5)", () => {
    // P(X ≤ 1) = (1 + 10)/1024 = 0.0107 ≤ 0.025 but P(X ≤ 2) = 56/1024 = 0.0547 > 0.025 → lo = 2; hi = 8 by symmetry.
    expect(binomialInterval(10, 0.5)).toEqual({ lo: 2, hi: 8 });
  });
  it("is about p·n ± 1.96·sqrt(n·p·(1−p)) for large n", () => {
    // n = 1000, p = 0.2: mean 200, sd = sqrt(160) = 12.65, ±1.96 sd = ±24.8 → about [176, 224].
    const { lo, hi } = binomialInterval(1000, 0.2);
    expect(lo).toBeGreaterThanOrEqual(174);
    expect(lo).toBeLessThanOrEqual(177);
    expect(hi).toBeGreaterThanOrEqual(223);
    expect(hi).toBeLessThanOrEqual(226);
  });
});
