import { describe, expect, it } from "vitest";
import { findProvince, PROVINCES } from "../../../agent/config/provinces.js";

describe("PROVINCES", () => {
  it("lists the 31 provincial-level divisions of mainland China with unique codes and names", () => {
    expect(PROVINCES).toHaveLength(31);
    expect(new Set(PROVINCES.map((p) => p.code)).size).toBe(31);
    expect(new Set(PROVINCES.map((p) => p.zh)).size).toBe(31);
    expect(new Set(PROVINCES.map((p) => p.en)).size).toBe(31);
  });
  it("uses GB/T 2260 province codes: six digits ending in 0000, from 110000 to 650000", () => {
    for (const p of PROVINCES) expect(p.code).toMatch(/^[1-6][0-9]0000$/);
    expect(PROVINCES[0]?.code).toBe("110000");
    expect(PROVINCES.at(-1)?.code).toBe("650000");
  });
  it("places every capital inside mainland China's bounding box (lat 18–54 N, lon 73–135 E)", () => {
    for (const p of PROVINCES) {
      expect(p.capital.latitude).toBeGreaterThan(18);
      expect(p.capital.latitude).toBeLessThan(54);
      expect(p.capital.longitude).toBeGreaterThan(73);
      expect(p.capital.longitude).toBeLessThan(135);
    }
  });
});

describe("findProvince", () => {
  it("finds by code, full and short Chinese name, English name and alias", () => {
    expect(findProvince("440000")?.en).toBe("Guangdong");
    expect(findProvince("广东省")?.code).toBe("440000");
    expect(findProvince("广东")?.code).toBe("440000");
    expect(findProvince("guangdong")?.code).toBe("440000");
    expect(findProvince("Inner-Mongolia")?.code).toBe("150000");
    expect(findProvince("Tibet")?.code).toBe("540000");
    expect(findProvince("新疆维吾尔自治区")?.capital.en).toBe("Urumqi");
  });
  it("keeps Shanxi (山西, 140000) and Shaanxi (陕西, 610000) apart and does not guess", () => {
    expect(findProvince("Shanxi")?.code).toBe("140000");
    expect(findProvince("Shaanxi")?.code).toBe("610000");
    expect(findProvince("Shanxii")).toBeUndefined();
    expect(findProvince("810000")).toBeUndefined(); // Hong Kong: outside the mainland specification
  });
});
