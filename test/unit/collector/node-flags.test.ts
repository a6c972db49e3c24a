import { describe, expect, it } from "vitest";
import { COLLECTOR_NODE_FLAGS, missingCollectorFlags } from "../../../collector/node-flags.js";

describe("missingCollectorFlags", () => {
  it("names the collector's flags a process lacks, wherever it was given them", () => {
    expect(COLLECTOR_NODE_FLAGS).toEqual(["--max-semi-space-size=32"]);
    expect(missingCollectorFlags([], "")).toEqual(["--max-semi-space-size=32"]);
    expect(missingCollectorFlags(["--expose-gc"], "--max-old-space-size=512")).toEqual([
      "--max-semi-space-size=32",
    ]);
    expect(missingCollectorFlags(["--max-semi-space-size=32"], "")).toEqual([]);
    expect(missingCollectorFlags([], "--enable-source-maps --max-semi-space-size=32")).toEqual([]);
    // Another size is the operator's choice: the flag is there.
    expect(missingCollectorFlags(["--max-semi-space-size=64"], "")).toEqual([]);
  });
});
