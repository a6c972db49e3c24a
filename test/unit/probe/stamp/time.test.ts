import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../../agent/clock.js";
import {
  decodeErrorEstimate,
  encodeErrorEstimate,
  errorEstimateFromSync,
  errorEstimateMs,
} from "../../../../agent/probe/stamp/error-estimate.js";
import {
  AnchoredClock,
  ntpDiffMs,
  ntpFromEpochMs,
  ntpFromNs,
  ntpToEpochMs,
  readNtp,
  writeNtp,
} from "../../../../agent/probe/stamp/ntp.js";

describe("NTP timestamps", () => {
  it("converts a kernel timestamp in ns exactly", () => {
    // 1643590723 s + 0.25 s since 1970 = 1643590723 + 2208988800 = 3852579523 s since 1900; 0.25 s = 2^30.
    expect(ntpFromNs(1_643_590_723_250_000_000n)).toEqual({ seconds: 3_852_579_523, fraction: 0x40000000 });
    // 1 ns = 2^32 / 10^9 = 4.29… units, truncated to 4; 999999999 ns → ⌊4294967291.7⌋ = 4294967291.
    expect(ntpFromNs(1n)).toEqual({ seconds: 2_208_988_800, fraction: 4 });
    expect(ntpFromNs(999_999_999n).fraction).toBe(4_294_967_291);
  });

  it("maps the Unix epoch to 2208988800 s since 1900", () => {
    // 70 years × 365 days + 17 leap days = 25567 days × 86400 s = 2208988800 s.
    expect(ntpFromEpochMs(0)).toEqual({ seconds: 2_208_988_800, fraction: 0 });
  });

  it("puts half a second in the fraction's top bit", () => {
    // 1500 ms = 1 s + 0.5 s; 0.5 × 2^32 = 0x80000000.
    expect(ntpFromEpochMs(1500)).toEqual({ seconds: 2_208_988_801, fraction: 0x80000000 });
    expect(ntpToEpochMs({ seconds: 2_208_988_801, fraction: 0x80000000 })).toBe(1500);
  });

  it("reads era 1 (after 2036-02-07T06:28:16Z) by the RFC 4330 top-bit rule", () => {
    // NTP seconds 0 with the top bit clear = 2^32 s after 1900 = 2^32 − 2208988800 = 2085978496 s Unix.
    expect(ntpToEpochMs({ seconds: 0, fraction: 0 })).toBe(2_085_978_496_000);
    expect(new Date(2_085_978_496_000).toISOString()).toBe("2036-02-07T06:28:16.000Z");
  });

  it("differences across the 2036 rollover stay small", () => {
    // 0.0 − 0xFFFFFFFF.5 = 1 s − 0.5 s = 500 ms.
    expect(ntpDiffMs({ seconds: 0, fraction: 0 }, { seconds: 0xffffffff, fraction: 0x80000000 })).toBe(500);
    expect(ntpDiffMs({ seconds: 10, fraction: 0 }, { seconds: 10, fraction: 0x40000000 })).toBe(-250);
  });

  it("writes and reads big-endian on the wire", () => {
    const buf = Buffer.alloc(8);
    writeNtp(buf, 0, { seconds: 0xe5a1b2c3, fraction: 0x40000000 });
    expect(buf.toString("hex")).toBe("e5a1b2c340000000");
    expect(readNtp(buf, 0)).toEqual({ seconds: 0xe5a1b2c3, fraction: 0x40000000 });
  });

  it("an anchored clock moves with the monotonic clock, not with wall steps", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const time = new AnchoredClock(clock);
    await clock.advance(250);
    // FakeClock moves wall and mono together: anchor + 250 ms.
    expect(time.nowEpochMs()).toBe(Date.UTC(2026, 0, 1) + 250);
    expect(time.epochMsAt(100)).toBe(Date.UTC(2026, 0, 1) + 100);
  });
});

describe("Error Estimate", () => {
  it("packs S, Z, Scale and Multiplier", () => {
    // S=1 → 0x8000, Z=0, Scale 15 → 0x0F00, Multiplier 132 → 0x84: 0x8F84.
    expect(encodeErrorEstimate({ synced: true, ptp: false, scale: 15, multiplier: 132 })).toBe(0x8f84);
    expect(decodeErrorEstimate(0x8f84)).toEqual({ synced: true, ptp: false, scale: 15, multiplier: 132 });
    expect(decodeErrorEstimate(0x4001)).toEqual({ synced: false, ptp: true, scale: 0, multiplier: 1 });
  });

  it("never encodes a zero multiplier", () => {
    expect(encodeErrorEstimate({ synced: false, ptp: false, scale: 0, multiplier: 0 })).toBe(0x0001);
  });

  it("states a 1 ms bound as the smallest scale that fits, rounded up", () => {
    // 0.001 s × 2^(32−14) = 262.1 > 255; × 2^(32−15) = 131.07 → 132 at scale 15.
    const e = errorEstimateFromSync({ synced: true, source: "chrony", max_error_ms: 1 });
    expect(e).toEqual({ synced: true, ptp: false, scale: 15, multiplier: 132 });
    // 132 × 2^(15−32) s = 1.00708 ms ≥ 1 ms.
    expect(errorEstimateMs(e)).toBeCloseTo(1.00708, 5);
  });

  it("says 'unknown' with the largest error, not a made-up small one", () => {
    expect(errorEstimateFromSync({ synced: false, source: "unknown" })).toEqual({
      synced: false,
      ptp: false,
      scale: 63,
      multiplier: 255,
    });
  });
});
