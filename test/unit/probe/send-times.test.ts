import { describe, expect, it } from "vitest";
import { exponentialGapMs, sendOffsets } from "../../../agent/probe/send-times.js";

/** A random source that replays fixed values. */
const replay = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

describe("send offsets", () => {
  it("periodic: count packets at k × interval", () => {
    expect([...sendOffsets({ count: 4, interval_ms: 20, schedule: "periodic" })]).toEqual([0, 20, 40, 60]);
  });

  it("an exponential gap is −ln(1 − u) × mean", () => {
    // −ln(1 − 0.5) × 20 = ln 2 × 20 = 13.8629…
    expect(exponentialGapMs(20, () => 0.5)).toBeCloseTo(13.8629436, 6);
  });

  it("poisson is truncated at the end of the sending window: the count varies, nothing after it", () => {
    // u = 0.5 every time: gaps of ln 2 × 100 = 69.3147 ms. Window 250 ms: 69.31, 138.63, 207.94;
    // the 4th would be 277.26 ≥ 250 → stop. 3 packets, although count says 10.
    const out = [
      ...sendOffsets({ count: 10, interval_ms: 100, schedule: "poisson", send_window_ms: 250 }, () => 0.5),
    ];
    expect(out.map((x) => Math.round(x * 100) / 100)).toEqual([69.31, 138.63, 207.94]);
  });

  it("poisson without a window uses count × interval as the sending time", () => {
    // u = 0.9: gaps −ln(0.1) × 100 = 230.2585 ms; window 3 × 100 = 300 → one packet at 230.26.
    const out = [...sendOffsets({ count: 3, interval_ms: 100, schedule: "poisson" }, replay([0.9]))];
    expect(out.map((x) => Math.round(x * 100) / 100)).toEqual([230.26]);
  });

  it("poisson never yields an offset at or past the window, whatever the draws", () => {
    const window = 60_000;
    let total = 0;
    for (let run = 0; run < 200; run++) {
      const out = [
        ...sendOffsets({ count: 60, interval_ms: 1000, schedule: "poisson", send_window_ms: window }),
      ];
      for (const t of out) expect(t).toBeLessThan(window);
      total += out.length;
    }
    // The mean count is window / interval = 60; over 200 runs the average is 60 ± 4 σ (σ = √60 / √200 ≈ 0.55).
    expect(total / 200).toBeGreaterThan(60 - 4 * 0.55);
    expect(total / 200).toBeLessThan(60 + 4 * 0.55);
  });
});
