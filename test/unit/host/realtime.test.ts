import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { libcTime } from "../../../agent/host/libc-time.js";
import { realtimeMs, realtimeSource, SlewingMap } from "../../../agent/host/realtime.js";
import { transpileForChild } from "../../helpers/ts-child.js";

describe("SlewingMap", () => {
  it("follows the monotonic clock from its anchor", () => {
    const m = new SlewingMap(100, 1_000_000);
    // 1_000_000 + (350 − 100) = 1_000_250
    expect(m.at(350)).toBe(1_000_250);
  });

  it("slews a small offset out at 500 ppm instead of stepping", () => {
    const m = new SlewingMap(0, 1_000_000);
    // At mono 10 000 the map says 1_010_000; the wall clock says 1_010_002: offset +2 ms.
    m.discipline(10_000, 1_010_002);
    // Right after the discipline nothing has moved: no step.
    expect(m.at(10_000)).toBe(1_010_000);
    expect(m.residual(10_000)).toBe(2);
    // 1000 ms later: 1000 × 0.0005 = 0.5 ms absorbed → 1_010_000 + 1000 + 0.5.
    expect(m.at(11_000)).toBeCloseTo(1_011_000.5, 9);
    expect(m.residual(11_000)).toBeCloseTo(1.5, 9);
    // All 2 ms are absorbed after 2 / 0.0005 = 4000 ms; later it runs at rate 1 again.
    expect(m.at(14_000)).toBeCloseTo(1_014_002, 9);
    expect(m.at(20_000)).toBeCloseTo(1_020_002, 9);
    expect(m.residual(20_000)).toBe(0);
  });

  it("never runs backwards when the wall clock went back", () => {
    const m = new SlewingMap(0, 1_000_000);
    // Wall clock is 1 ms behind the map: the map slows to 0.9995, it does not jump back.
    m.discipline(10_000, 1_009_999);
    const readings = [10_000, 10_001, 10_500, 12_000, 13_000].map((x) => m.at(x));
    for (let i = 1; i < readings.length; i++) expect(readings[i]).toBeGreaterThan(readings[i - 1] as number);
    // 2000 ms after: 1_010_000 + 2000 − 2000 × 0.0005 = 1_011_999.
    expect(m.at(12_000)).toBeCloseTo(1_011_999, 9);
  });

  it("catches up a large backward step at 5 %, still monotonic", () => {
    const m = new SlewingMap(0, 1_000_000);
    m.discipline(10_000, 1_010_000 - 1_000); // wall went back 1 s
    // 1000 ms later: 1_010_000 + 1000 − 50 = 1_010_950; done after 1000 / 0.05 = 20 000 ms.
    expect(m.at(11_000)).toBeCloseTo(1_010_950, 9);
    expect(m.at(30_000)).toBeCloseTo(1_029_000, 9);
  });

  it("steps a large forward offset at once (forward only)", () => {
    const m = new SlewingMap(0, 1_000_000);
    m.discipline(10_000, 1_010_000 + 5_000);
    expect(m.at(10_000)).toBe(1_015_000);
    expect(m.at(10_010)).toBe(1_015_010);
    expect(m.residual(10_010)).toBe(0);
  });
});

describe("realtime on this machine", () => {
  it("reads CLOCK_REALTIME through koffi, agreeing with Date.now()", () => {
    // koffi is a dependency and this is Linux x64: the binding must load here.
    expect(libcTime()).not.toBeNull();
    expect(realtimeSource()).toEqual({ source: "clock_gettime", residual_ms: 0 });
    const before = Date.now();
    const t = realtimeMs();
    const after = Date.now();
    // Date.now() truncates to whole ms: before ≤ t < after + 1.
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThan(after + 1);
    // Sub-millisecond resolution: not every reading is a whole number.
    const frac = Array.from({ length: 20 }, () => realtimeMs() % 1).some((f) => f !== 0);
    expect(frac).toBe(true);
  });

  it("reads adjtimex with the timex layout koffi derived", () => {
    const t = libcTime()?.adjtimex();
    expect(t).toBeDefined();
    if (!t) return;
    // TIME_OK..TIME_ERROR; maxerror is at most the kernel's 16 s cap (NTP_PHASE_LIMIT).
    expect(t.state).toBeGreaterThanOrEqual(0);
    expect(t.state).toBeLessThanOrEqual(5);
    expect(t.maxerror_us).toBeGreaterThanOrEqual(0);
    expect(t.maxerror_us).toBeLessThanOrEqual(16_000_000);
    expect(t.esterror_us).toBeGreaterThanOrEqual(0);
  });
});

describe("realtime without koffi (QOSPROBE_TIMESTAMPS=user, as with --omit=optional)", () => {
  it("falls back to the slewed performance clock, on the wall clock, never backwards", async () => {
    const tree = await transpileForChild(["agent/host/realtime.ts"]);
    try {
      const script = `
        import { realtimeMs, realtimeSource } from "./agent/host/realtime.js";
        const before = Date.now();
        const a = realtimeMs();
        const readings = Array.from({ length: 1000 }, () => realtimeMs());
        const after = Date.now();
        const monotonic = readings.every((r, i) => i === 0 || r >= readings[i - 1]);
        console.log(JSON.stringify({ source: realtimeSource().source, before, a, after, monotonic }));`;
      const out = JSON.parse(
        execFileSync(process.execPath, ["--input-type=module", "-e", script], {
          cwd: tree.dir,
          env: { ...process.env, QOSPROBE_TIMESTAMPS: "user" },
          encoding: "utf8",
        }),
      ) as { source: string; before: number; a: number; after: number; monotonic: boolean };
      expect(out.source).toBe("performance");
      expect(out.monotonic).toBe(true);
      // Disciplined to a Date.now() edge at start: within Date.now()'s own millisecond truncation.
      expect(out.a).toBeGreaterThanOrEqual(out.before - 1);
      expect(out.a).toBeLessThan(out.after + 1);
    } finally {
      await tree.remove();
    }
  });
});
