import { describe, expect, it } from "vitest";
import {
  EXCLUDING_FLAGS,
  type IntervalInput,
  judgeFlaggedInterval,
  judgeInterval,
  judgeMeans,
  judgeValue,
} from "../../../agent/compliance/verdict.js";
import { summarize } from "../../../agent/metrics/summary.js";
import { Verdicts } from "../../../agent/publish/message.js";
import { INTEGRITY_FLAGS, TIMING_FLAGS } from "../../../collector/windows.js";

/** An interval that passes everything unless overridden. */
function interval(over: {
  sent?: number;
  received?: number;
  loss_ratio?: number | null;
  rtt_mean?: number | null;
  dv?: number | null;
  fwd_mean?: number | null;
}): IntervalInput {
  return {
    packets: { sent: over.sent ?? 100, received: over.received ?? 100 },
    loss_ratio: over.loss_ratio === undefined ? 0 : over.loss_ratio,
    rtt_ms: { mean: over.rtt_mean === undefined ? 50 : over.rtt_mean },
    delay_variation_ms: { max_minus_min: over.dv === undefined ? 10 : over.dv },
    one_way_ms:
      over.fwd_mean === undefined || over.fwd_mean === null ? null : { forward: { mean: over.fwd_mean } },
  };
}

describe("judgeValue", () => {
  it("is inclusive at the limit and tolerates only float noise", () => {
    expect(judgeValue(200, { limit: 200, bound: "max" })).toBe("pass");
    expect(judgeValue(200.001, { limit: 200, bound: "max" })).toBe("fail");
    // Loss ratios 0.4 %, 3.5 %, 2.1 % average to exactly 2 %, but in floats to 0.020000000000000004.
    const floatMean = (0.004 + 0.035 + 0.021) / 3;
    expect(floatMean).toBeGreaterThan(0.02);
    expect(judgeValue(floatMean, { limit: 0.02, bound: "max" })).toBe("pass");
    expect(judgeValue(0.999, { limit: 0.999, bound: "min" })).toBe("pass");
    expect(judgeValue(0.9989, { limit: 0.999, bound: "min" })).toBe("fail");
    expect(judgeValue(null, { limit: 1, bound: "max" })).toBe("insufficient");
    expect(judgeValue(Number.NaN, { limit: 1, bound: "max" })).toBe("insufficient");
  });
});

describe("judgeInterval internet-3.2.2", () => {
  it("passes exactly at 200 ms, 80 ms and 2 %", () => {
    const v = judgeInterval("internet-3.2.2", interval({ rtt_mean: 200, dv: 80, loss_ratio: 0.02 }));
    expect(v).toEqual({
      profile: "internet-3.2.2",
      delay_basis: "round-trip",
      rtt: "pass",
      delay_variation: "pass",
      loss: "pass",
    });
    expect(Verdicts.parse(v)).toEqual(v);
  });

  it("fails just above each limit", () => {
    const v = judgeInterval("internet-3.2.2", interval({ rtt_mean: 200.5, dv: 80.1, loss_ratio: 0.021 }));
    expect([v.rtt, v.delay_variation, v.loss]).toEqual(["fail", "fail", "fail"]);
  });

  it("judges RTT, never one-way delay, even when one-way is present", () => {
    // RTT mean 250 fails 200 although forward 120 would pass.
    const v = judgeInterval("internet-3.2.2", interval({ rtt_mean: 250, fwd_mean: 120 }));
    expect(v.delay_basis).toBe("round-trip");
    expect(v.rtt).toBe("fail");
  });

  it("is insufficient on delay and DV when nothing came back, but judges the loss", () => {
    // 100 sent, 0 received: loss 1.0 > 0.02 → fail; delay and DV have nothing to judge.
    const v = judgeInterval(
      "internet-3.2.2",
      interval({ received: 0, loss_ratio: 1, rtt_mean: null, dv: null }),
    );
    expect([v.rtt, v.delay_variation, v.loss]).toEqual(["insufficient", "insufficient", "fail"]);
  });

  it("is insufficient everywhere when nothing was sent", () => {
    const v = judgeInterval(
      "internet-3.2.2",
      interval({ sent: 0, received: 0, loss_ratio: null, rtt_mean: null, dv: null }),
    );
    expect([v.rtt, v.delay_variation, v.loss]).toEqual(["insufficient", "insufficient", "insufficient"]);
  });

  it("accepts a summary straight from summarize()", () => {
    // RTTs 180, 220 → mean 200 (pass, inclusive), max − min 40 (pass); 3 sent, 1 lost → 1/3 (fail).
    const s = summarize(
      [
        { seq: 0, sent_at: 0, rtt_ms: 180, arrival: 0 },
        { seq: 1, sent_at: 1000, rtt_ms: 220, arrival: 1 },
        { seq: 2, sent_at: 2000, rtt_ms: null },
      ],
      { sent: 3, clockSynced: false },
    );
    const v = judgeInterval("internet-3.2.2", s);
    expect([v.rtt, v.delay_variation, v.loss]).toEqual(["pass", "pass", "fail"]);
  });
});

describe("judgeInterval voip-4.2", () => {
  it("uses the one-way forward mean when there is one", () => {
    // forward mean 400 ≤ 400 → pass, although RTT/2 = 450 would fail.
    const v = judgeInterval("voip-4.2", interval({ rtt_mean: 900, fwd_mean: 400 }));
    expect(v.delay_basis).toBe("one-way");
    expect(v.rtt).toBe("pass");
  });

  it("falls back to half the RTT, labelled round-trip-half", () => {
    // 800 / 2 = 400 → pass; 802 / 2 = 401 → fail.
    const ok = judgeInterval("voip-4.2", interval({ rtt_mean: 800 }));
    expect(ok.delay_basis).toBe("round-trip-half");
    expect(ok.rtt).toBe("pass");
    expect(judgeInterval("voip-4.2", interval({ rtt_mean: 802 })).rtt).toBe("fail");
  });

  it("allows 5 % loss, not more", () => {
    expect(judgeInterval("voip-4.2", interval({ loss_ratio: 0.05 })).loss).toBe("pass");
    expect(judgeInterval("voip-4.2", interval({ loss_ratio: 0.06 })).loss).toBe("fail");
    // 3 % fails internet (2 %) but passes voip (5 %).
    expect(judgeInterval("internet-3.2.2", interval({ loss_ratio: 0.03 })).loss).toBe("fail");
    expect(judgeInterval("voip-4.2", interval({ loss_ratio: 0.03 })).loss).toBe("pass");
  });
});

describe("judgeFlaggedInterval", () => {
  it("keeps loopback below the light bound and aborted intervals out of every verdict", () => {
    // A loopback interval that would pass everything: RTT 0.05 ms, DV 0.1 ms, no loss.
    const loopback = interval({ rtt_mean: 0.05, dv: 0.1 });
    for (const flag of ["rtt-below-light-bound", "aborted"]) {
      expect(judgeFlaggedInterval("internet-3.2.2", loopback, ["diagnostic", flag])).toEqual({
        profile: "internet-3.2.2",
        delay_basis: "round-trip",
        rtt: "not-judged",
        delay_variation: "not-judged",
        loss: "not-judged",
        not_judged: [flag],
      });
    }
  });

  it("host-timing keeps delay and DV out but judges loss; unrelated flags change nothing", () => {
    const v = judgeFlaggedInterval("internet-3.2.2", interval({ loss_ratio: 0.03 }), ["host-timing"]);
    expect(v).toMatchObject({ rtt: "not-judged", delay_variation: "not-judged", loss: "fail" });
    expect(judgeFlaggedInterval("internet-3.2.2", interval({}), ["send-jitter-high"])).toEqual(
      judgeInterval("internet-3.2.2", interval({})),
    );
  });

  it("excludes at least what the collector excludes (its integrity and timing flags)", () => {
    for (const f of INTEGRITY_FLAGS) expect(EXCLUDING_FLAGS[f]).toEqual(["rtt", "delay_variation", "loss"]);
    for (const f of TIMING_FLAGS) expect(EXCLUDING_FLAGS[f]).toEqual(["rtt", "delay_variation"]);
  });
});

describe("judgeMeans", () => {
  it("judges a month's means including availability for internet-3.2.2", () => {
    const v = judgeMeans("internet-3.2.2", {
      mean_rtt_ms: 200,
      mean_dv_ms: 79.9,
      mean_loss_ratio: (0.004 + 0.035 + 0.021) / 3, // 2 % plus float noise
      availability_ratio: 0.999,
    });
    expect(v).toEqual({
      profile: "internet-3.2.2",
      delay_basis: "round-trip",
      delay_ms: 200,
      rtt: "pass",
      delay_variation: "pass",
      loss: "pass",
      availability: "pass",
    });
  });

  it("fails availability below 99.9 % and is insufficient without a measured window", () => {
    // 8630 of 8640 windows available: 8630/8640 = 0.99884 < 0.999 → fail.
    const base = { mean_rtt_ms: 50, mean_dv_ms: 5, mean_loss_ratio: 0 };
    expect(judgeMeans("internet-3.2.2", { ...base, availability_ratio: 8630 / 8640 }).availability).toBe(
      "fail",
    );
    expect(judgeMeans("internet-3.2.2", { ...base, availability_ratio: null }).availability).toBe(
      "insufficient",
    );
  });

  it("has no availability verdict for voip-4.2 and prefers the one-way mean", () => {
    const withOneWay = judgeMeans("voip-4.2", {
      mean_rtt_ms: 700,
      mean_dv_ms: 81,
      mean_loss_ratio: 0.04,
      availability_ratio: 0.5,
      mean_one_way_ms: 380,
    });
    expect(withOneWay).toEqual({
      profile: "voip-4.2",
      delay_basis: "one-way",
      delay_ms: 380,
      rtt: "pass",
      delay_variation: "fail",
      loss: "pass",
      availability: null,
    });
    // Without one-way: 700 / 2 = 350 → pass, basis round-trip-half.
    const half = judgeMeans("voip-4.2", {
      mean_rtt_ms: 700,
      mean_dv_ms: 10,
      mean_loss_ratio: null,
      availability_ratio: null,
    });
    expect([half.delay_basis, half.delay_ms, half.rtt, half.loss]).toEqual([
      "round-trip-half",
      350,
      "pass",
      "insufficient",
    ]);
  });
});
