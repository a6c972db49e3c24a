import { describe, expect, it } from "vitest";
import { receiptCoverage } from "../../../agent/publish/receipts.js";
import { agentGaps, formatGaps, missingRanges } from "../../../collector/gaps.js";
import type { SiteStatusRow } from "../../../collector/store/store.js";

const status = (extra: Partial<SiteStatusRow> = {}): SiteStatusRow => ({
  operator: "unicom",
  province: "110000",
  site: "bj-01",
  state: "online",
  last_heartbeat: new Date("2026-11-30T12:00:00Z"),
  updated_at: new Date("2026-11-30T12:00:00Z"),
  outbox_depth: 0,
  dropped: 2,
  version: "0.1.0",
  config_version: null,
  payload: { outbox: { next_seq: 21 } },
  ...extra,
});

describe("gaps", () => {
  it("lists the seqs below the highest stored one that are missing", () => {
    expect(missingRanges([])).toEqual([]);
    expect(
      missingRanges([
        [1, 5],
        [8, 8],
        [12, 20],
      ]),
    ).toEqual([
      [6, 7],
      [9, 11],
    ]);
    expect(missingRanges([[3, 4]])).toEqual([[1, 2]]);
  });

  it("puts the heartbeat's dropped and next_seq beside the store's view", () => {
    const g = agentGaps(status(), [
      [1, 5],
      [8, 20],
    ]);
    // stored 5 + 13 = 18; missing 6..7 = 2, which the agent's dropped counter (2) explains.
    expect(g).toMatchObject({
      stored: 18,
      highest: 20,
      missing: 2,
      heartbeat_dropped: 2,
      heartbeat_next_seq: 21,
    });
    expect(formatGaps([g])).toBe(
      [
        "site   operator  stored  highest  missing  missing seqs  produced  outbox  dropped",
        "bj-01  unicom        18       20        2  6-7                 20       0        2",
      ].join("\n"),
    );
  });
});

describe("receipt coverage", () => {
  it("is the contiguous prefix from seq 1 plus the islands above it", () => {
    expect(receiptCoverage([])).toEqual({ contiguous_through: 0, ranges: [] });
    expect(
      receiptCoverage([
        [1, 10],
        [12, 12],
        [15, 20],
      ]),
    ).toEqual({
      contiguous_through: 10,
      ranges: [
        [12, 12],
        [15, 20],
      ],
    });
    // Seq 1 missing: nothing is contiguous, everything is a range.
    expect(receiptCoverage([[2, 3]])).toEqual({ contiguous_through: 0, ranges: [[2, 3]] });
  });
});
