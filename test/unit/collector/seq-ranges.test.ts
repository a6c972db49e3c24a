import { describe, expect, it } from "vitest";
import { seqRanges } from "../../../collector/collector.js";
import { makeResult } from "../../helpers/result-factory.js";

describe("seqRanges (the 'results stored' batch log line)", () => {
  it("gives each agent's seqs as sorted inclusive ranges, repeats folded in", () => {
    const at = (site: string, seq: number) => makeResult({ seq, site });
    const msgs = [at("a", 9), at("a", 5), at("a", 6), at("a", 7), at("a", 12), at("a", 6), at("b", 3)];
    const key = (m: ReturnType<typeof makeResult>) => `${m.agent.operator}/${m.agent.site}`;
    expect(seqRanges(msgs)).toEqual({ [key(msgs[0]!)]: "5-7,9,12", [key(msgs[6]!)]: "3" });
  });

  it("is empty for no results", () => {
    expect(seqRanges([])).toEqual({});
  });
});
