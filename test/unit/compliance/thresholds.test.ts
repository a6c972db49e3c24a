import { describe, expect, it } from "vitest";
import {
  FIBRE_MS_PER_KM,
  lightSpeedMinRttMs,
  PROFILE_THRESHOLDS,
} from "../../../agent/compliance/thresholds.js";
import { PROFILES } from "../../../agent/publish/message.js";

describe("PROFILE_THRESHOLDS", () => {
  it("holds spec 3.2.2 for internet-3.2.2", () => {
    const t = PROFILE_THRESHOLDS["internet-3.2.2"];
    expect([t.delay_ms, t.delay_variation_ms, t.loss_ratio, t.availability_ratio]).toEqual([
      200, 80, 0.02, 0.999,
    ]);
    expect(t.delay_kind).toBe("round-trip");
    expect(t.indicators.delay.clause).toBe("3.2.2.1");
    expect(t.indicators.delay_variation.clause).toBe("3.2.2.2");
    expect(t.indicators.loss.clause).toBe("3.2.2.3");
    expect(t.indicators.availability?.clause).toBe("3.2.2.4");
    expect(t.indicators.availability?.bound).toBe("min");
    expect(t.indicators.delay.requirement.zh).toBe("往返时延平均值≤200毫秒");
    expect(t.indicators.loss.requirement.zh).toBe("包丢失率平均值≤2%");
  });

  it("holds spec 4.2 for voip-4.2, with no availability requirement", () => {
    const t = PROFILE_THRESHOLDS["voip-4.2"];
    expect([t.delay_ms, t.delay_variation_ms, t.loss_ratio, t.availability_ratio]).toEqual([
      400,
      80,
      0.05,
      null,
    ]);
    expect(t.delay_kind).toBe("one-way");
    expect([
      t.indicators.delay.clause,
      t.indicators.delay_variation.clause,
      t.indicators.loss.clause,
    ]).toEqual(["4.2.2", "4.2.3", "4.2.4"]);
    expect(t.indicators.availability).toBeUndefined();
    expect(t.indicators.delay.requirement.zh).toBe("语音传输时延平均值≤400毫秒");
  });

  it("has an entry for every profile the message schema knows, keyed by its own id", () => {
    expect(Object.keys(PROFILE_THRESHOLDS).sort()).toEqual([...PROFILES].sort());
    for (const id of PROFILES) expect(PROFILE_THRESHOLDS[id].id).toBe(id);
  });
});

describe("lightSpeedMinRttMs", () => {
  it("is 2 · distance · 0.005 ms (spec 3.3.2.2.2, ≈ 5 µs/km)", () => {
    expect(FIBRE_MS_PER_KM).toBe(0.005);
    // 1000 km: 2 · 1000 · 0.005 = 10 ms — the spec's minimum pair distance gives a 10 ms floor.
    expect(lightSpeedMinRttMs(1000)).toBe(10);
    // Beijing–Guangzhou ≈ 1890 km: 2 · 1890 · 0.005 = 18.9 ms.
    expect(lightSpeedMinRttMs(1890)).toBeCloseTo(18.9, 12);
    expect(lightSpeedMinRttMs(0)).toBe(0);
  });
});
