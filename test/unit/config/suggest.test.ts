import { describe, expect, it } from "vitest";
import { closest, editDistance } from "../../../agent/config/suggest.js";

describe("editDistance", () => {
  it("counts insertions, deletions and substitutions", () => {
    expect(editDistance("kitten", "sitting")).toBe(3); // k→s, e→i, +g
    expect(editDistance("rate_pp", "rate_pps")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });
});

describe("closest", () => {
  it("suggests a near miss and nothing for a distant word", () => {
    expect(closest("log_lvl", ["site", "data_dir", "log_level"])).toBe("log_level"); // 2 edits, limit 2
    expect(closest("schedual", ["schedule", "scheduled"])).toBe("schedule"); // 2 edits vs 2: first wins
    expect(closest("xyz", ["site", "data_dir"])).toBeUndefined();
  });
});
