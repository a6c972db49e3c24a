import { describe, expect, it } from "vitest";
import { checkPair, EARTH_MEAN_RADIUS_KM, greatCircleKm } from "../../../agent/config/geo.js";

describe("greatCircleKm", () => {
  it("gives one degree of longitude on the equator as 2πR/360", () => {
    // 6371.0088 × π / 180 = 111.19508 km
    expect(greatCircleKm({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 1 })).toBeCloseTo(
      111.19508,
      4,
    );
    expect(EARTH_MEAN_RADIUS_KM).toBe(6371.0088);
  });
  it("measures Beijing ↔ Guangzhou as 1889 km", () => {
    // Beijing 39.9042 N 116.4074 E, Guangzhou 23.1291 N 113.2644 E.
    // Δφ = −16.7751°, Δλ = −3.1430°
    // sin²(Δφ/2) = sin²(−8.38755°) = 0.0212775
    // cos φ1 · cos φ2 · sin²(Δλ/2) = 0.767118 × 0.919622 × sin²(−1.5715°) (= 0.000752098) = 0.000530574
    // h = 0.0218081;  d = 2 R asin(√h) = 2 × 6371.0088 × 0.148218 = 1888.59 km
    const km = greatCircleKm(
      { latitude: 39.9042, longitude: 116.4074 },
      { latitude: 23.1291, longitude: 113.2644 },
    );
    expect(Math.abs(km - 1888.59)).toBeLessThan(1);
  });
  it("is symmetric and zero for the same point", () => {
    const a = { latitude: 30.5728, longitude: 104.0668 };
    const b = { latitude: 31.2304, longitude: 121.4737 };
    expect(greatCircleKm(a, b)).toBeCloseTo(greatCircleKm(b, a), 9);
    expect(greatCircleKm(a, a)).toBe(0);
  });
  it("gives half the circumference for antipodes: π × R = 3.14159265 × 6371.0088 = 20015.114 km", () => {
    expect(greatCircleKm({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 180 })).toBeCloseTo(
      20015.114,
      2,
    );
  });
});

describe("checkPair", () => {
  const beijing = { province: "110000", latitude: 39.9042, longitude: 116.4074 };
  it("passes Beijing ↔ Guangzhou: different provinces, 1889 km", () => {
    const r = checkPair(beijing, { province: "440000", latitude: 23.1291, longitude: 113.2644 });
    expect(r).toMatchObject({ different_provinces: true, over_1000_km: true, ok: true });
  });
  it("fails Beijing ↔ Tianjin: different provinces but 113.8 km", () => {
    // Δφ = −0.82°, Δλ = 0.7936°: h = 5.12053e-5 + 0.767118 × 0.776220 × 4.79613e-5 = 7.97640e-5
    // d = 2 × 6371.0088 × asin(0.00893119) = 113.80 km
    const r = checkPair(beijing, { province: "120000", latitude: 39.0842, longitude: 117.201 });
    expect(r.distance_km).toBeCloseTo(113.8, 1);
    expect(r).toMatchObject({ different_provinces: true, over_1000_km: false, ok: false });
  });
  it("fails two sites of one province however far apart", () => {
    // Urumqi ↔ Kashgar (39.4704 N 75.9898 E), both Xinjiang, over 1000 km apart.
    const r = checkPair(
      { province: "650000", latitude: 43.8256, longitude: 87.6168 },
      { province: "650000", latitude: 39.4704, longitude: 75.9898 },
    );
    expect(r.distance_km).toBeGreaterThan(1000);
    expect(r).toMatchObject({ different_provinces: false, over_1000_km: true, ok: false });
  });
  it("needs strictly more than 1000 km", () => {
    // 1000 km along a meridian is 1000 / (π R / 180) = 8.99321° of latitude.
    const deg = 1000 / ((Math.PI * EARTH_MEAN_RADIUS_KM) / 180);
    const r = checkPair(
      { province: "a", latitude: 0, longitude: 0 },
      { province: "b", latitude: deg, longitude: 0 },
    );
    expect(r.distance_km).toBeCloseTo(1000, 6);
    expect(
      checkPair({ province: "a", latitude: 0, longitude: 0 }, { province: "b", latitude: 9, longitude: 0 })
        .ok,
    ).toBe(true);
    expect(
      checkPair({ province: "a", latitude: 0, longitude: 0 }, { province: "b", latitude: 8.99, longitude: 0 })
        .ok,
    ).toBe(false);
  });
});
