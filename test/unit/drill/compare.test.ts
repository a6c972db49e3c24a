import { describe, expect, it } from "vitest";
import {
  formatRanges,
  judgeAgent,
  judgeDrill,
  type LoggedResult,
  renderVerdict,
  type StoredResult,
} from "../../../scripts/drill/compare.js";

const T0 = Date.parse("2026-11-30T12:00:00Z");
const line = (seq: number, s: number, extra: Partial<LoggedResult> = {}): LoggedResult => ({
  seq,
  time: T0 + s * 1000,
  test: "bj-gz-stamp",
  ...extra,
});
const row = (site: string, seq: number, id = `${site}-${seq}`): StoredResult => ({ site, seq, id });
const phases = [
  { name: "warm-up", start: T0 },
  { name: "F1 broker restart", start: T0 + 10_000 },
];

describe("judgeAgent", () => {
  it("passes when seqs 1..n are each stored once", () => {
    const v = judgeAgent(
      "bj",
      [1, 2, 3].map((s) => line(s, s)),
      [row("bj", 1), row("bj", 2), row("bj", 3)],
    );
    expect(v).toMatchObject({ highest: 3, logged: 3, stored: 3, missing: [], duplicated: [], reused: [] });
  });

  it("counts a seq missing from both the log and the store (log line lost to SIGKILL) as produced and missing", () => {
    // Log has 1, 2, 4 (3's line lost), store has 1, 2, 4 and 5 (5 logged nowhere: still produced).
    const v = judgeAgent(
      "bj",
      [line(1, 1), line(2, 2), line(4, 12)],
      [row("bj", 1), row("bj", 2), row("bj", 4), row("bj", 5), row("gz", 3)],
      phases,
    );
    expect(v.highest).toBe(5);
    expect(v.stored).toBe(4);
    expect(v.missing).toEqual([3]);
    expect([...v.missingByPhase]).toEqual([["not logged", 1]]);
  });

  it("attributes missing seqs to the phase their result was made in", () => {
    const logged = [line(1, 1), line(2, 9), line(3, 10), line(4, 11), line(5, 12)];
    const v = judgeAgent("bj", logged, [row("bj", 1), row("bj", 5)], phases);
    expect(v.missing).toEqual([2, 3, 4]);
    expect([...v.missingByPhase]).toEqual([
      ["warm-up", 1],
      ["F1 broker restart", 2],
    ]);
  });

  it("finds a seq stored twice and a seq the agent handed out twice", () => {
    const logged = [line(1, 1), line(2, 2), line(2, 5, { test: "bj-xj-stamp" }), line(3, 6)];
    const stored = [row("bj", 1), row("bj", 2, "a"), row("bj", 2, "b"), row("bj", 3)];
    const v = judgeAgent("bj", logged, stored);
    expect(v.duplicated).toEqual([2]);
    expect(v.reused).toEqual([2]);
    expect(v.missing).toEqual([]);
  });

  it("does not call two log lines of one result (same id) reuse", () => {
    const v = judgeAgent("bj", [line(1, 1, { id: "x" }), line(1, 4, { id: "x" })], [row("bj", 1)]);
    expect(v.reused).toEqual([]);
  });
});

describe("judgeDrill and renderVerdict", () => {
  it("fails an agent that produced nothing, and renders the table with totals", () => {
    const logs = new Map([
      ["bj", [line(1, 1), line(2, 2), line(3, 11), line(4, 12)]],
      ["gz", [] as LoggedResult[]],
    ]);
    const verdict = judgeDrill(
      ["bj", "gz"],
      logs,
      [row("bj", 1), row("bj", 2), row("bj", 2, "other")],
      phases,
    );
    expect(verdict.ok).toBe(false);
    expect(renderVerdict(verdict).split("\n")).toEqual([
      "agent  produced  stored  missing  duplicated  reused",
      "-----  --------  ------  -------  ----------  ------",
      "bj      4 (1–4)       2        2           1       0",
      "gz            0       0        0           0       0",
      "total         4       2        2           1       0",
      "bj: missing seqs 3–4 (made during: F1 broker restart 2)",
      "bj: seqs stored more than once (different results): 2",
      "gz: produced nothing",
      "FAIL: results were lost or a seq was stored twice",
    ]);
  });

  it("passes when every agent's seqs are stored exactly once", () => {
    const logs = new Map([["bj", [line(1, 1)]]]);
    const verdict = judgeDrill(["bj"], logs, [row("bj", 1)]);
    expect(verdict.ok).toBe(true);
    expect(renderVerdict(verdict).split("\n").at(-1)).toBe("PASS: every produced seq is stored exactly once");
  });
});

describe("formatRanges", () => {
  it("joins runs and cuts long lists", () => {
    expect(formatRanges([])).toBe("—");
    expect(formatRanges([9, 1, 2, 3, 7, 10])).toBe("1–3, 7, 9–10");
    expect(formatRanges([1, 3, 5, 7], 2)).toBe("1, 3, … (4 ranges)");
  });
});
