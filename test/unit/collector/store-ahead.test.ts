import { describe, expect, it } from "vitest";
import { storeAhead } from "../../../collector/collector.js";

describe("storeAhead (a newer qos-probe migrated the collector's store)", () => {
  it("says nothing when the store is at or behind this version's migrations", () => {
    expect(storeAhead({ applied: [], current: 11, known: 11 })).toBeNull();
    expect(storeAhead({ applied: [11], current: 11, known: 11 })).toBeNull();
  });

  it("names both migrations, says ingest goes on and what to do", () => {
    const line = storeAhead({ applied: [], current: 12, known: 11 });
    expect(line).toContain("the store is at migration 12, newer than this qos-probe (11)");
    expect(line).toContain("Results are still stored");
    expect(line).toContain("upgrade this collector");
  });
});
