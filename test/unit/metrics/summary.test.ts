import { describe, expect, it } from "vitest";
import { summarize } from "../../../agent/metrics/summary.js";
import type { Sample } from "../../../agent/probe/prober.js";
import { DelayVariation, OneWay, Packets, RttStats } from "../../../agent/publish/message.js";

const T0 = Date.UTC(2024, 0, 1);

/** A received reply: seq, RTT and arrival index; sent_at spaced 1 s apart. */
function rx(seq: number, rtt_ms: number, arrival: number, extra: Partial<Sample> = {}): Sample {
  return { seq, sent_at: T0 + seq * 1000, rtt_ms, arrival, ...extra };
}

function lostPacket(seq: number, extra: Partial<Sample> = {}): Sample {
  return { seq, sent_at: T0 + seq * 1000, rtt_ms: null, ...extra };
}

const NULL_RTT = { min: null, mean: null, median: null, p95: null, p99: null, max: null, stddev: null };

describe("summarize: the 10-packet fixture", () => {
  // seq:     0   1   2   3        4   5   6   7   8   9   (8 dup)
  // rtt:    20  22  21  late     30  24  20  26  23  25   23.5
  // arrival: 0   1   2   9        4   3   5   6   7   8   10
  // send_error_ms: 0.1 … 1.0 on the ten packets, 9 on the duplicate (must be ignored).
  const samples: Sample[] = [
    rx(0, 20, 0, { send_error_ms: 0.1 }),
    rx(1, 22, 1, { send_error_ms: 0.2 }),
    rx(2, 21, 2, { send_error_ms: 0.3 }),
    { seq: 3, sent_at: T0 + 3000, rtt_ms: 1500, arrival: 9, late: true, send_error_ms: 0.4 },
    rx(4, 30, 4, { send_error_ms: 0.5 }),
    rx(5, 24, 3, { send_error_ms: 0.6 }),
    rx(6, 20, 5, { send_error_ms: 0.7 }),
    rx(7, 26, 6, { send_error_ms: 0.8 }),
    rx(8, 23, 7, { send_error_ms: 0.9 }),
    rx(9, 25, 8, { send_error_ms: 1.0 }),
    rx(8, 23.5, 10, { dup: true, send_error_ms: 9 }),
  ];
  const s = summarize(samples, { sent: 10, clockSynced: false });

  it("counts packets", () => {
    // received = 9 (seq 3 is late → lost); lost = 10 − 9 = 1; one duplicate; one late.
    // Reordering in arrival order 0,1,2,5,4,6,7,8,9 (late seq 3 excluded):
    //   NextExp 1,2,3 → 5 ≥ 3: NextExp 6 → 4 < 6: reordered → 6,7,8,9 in order. Total 1.
    expect(s.packets).toEqual({ sent: 10, received: 9, lost: 1, duplicates: 1, reordered: 1, late: 1 });
    expect(s.loss_ratio).toBe(0.1); // 1 / 10
    expect(Packets.parse(s.packets)).toEqual(s.packets);
  });

  it("computes RTT statistics by nearest rank and population stddev", () => {
    // Sorted received RTTs: 20 20 21 22 23 24 25 26 30 (N = 9, sum 211).
    // mean = 211/9 = 23.444…; median rank ceil(4.5) = 5 → 23; p95 rank ceil(8.55) = 9 → 30;
    // p99 rank ceil(8.91) = 9 → 30. Σx² = 5031; variance = 5031/9 − (211/9)² = (45279 − 44521)/81
    // = 758/81; stddev = √758 / 9 ≈ 3.0591.
    expect(s.rtt_ms.min).toBe(20);
    expect(s.rtt_ms.max).toBe(30);
    expect(s.rtt_ms.mean).toBeCloseTo(211 / 9, 12);
    expect(s.rtt_ms.median).toBe(23);
    expect(s.rtt_ms.p95).toBe(30);
    expect(s.rtt_ms.p99).toBe(30);
    expect(s.rtt_ms.stddev).toBeCloseTo(Math.sqrt(758) / 9, 12);
    expect(RttStats.parse(s.rtt_ms)).toEqual(s.rtt_ms);
  });

  it("computes max − min, IPDV, PDV and RFC 3550 jitter over RTTs", () => {
    // max − min = 30 − 20 = 10 (basis round-trip: clock not synced).
    // IPDV, sequence order, pairs with both received: (0,1) 2, (1,2) 1, (4,5) 6, (5,6) 4, (6,7) 6,
    //   (7,8) 3, (8,9) 2; pairs touching seq 3 skipped. Mean = 24 / 7 ≈ 3.4286.
    // PDV = D − min D: 0 2 1 10 4 0 6 3 5 → sorted 0 0 1 2 3 4 5 6 10; p99 rank 9 → 10.
    // Jitter, arrival order RTTs 20 22 21 24 30 20 26 23 25 → |D| = 2 1 3 6 10 6 3 2:
    //   J = 0.125, 0.1796875, 0.35595703125, 0.708709716796875, 1.2894153594970703,
    //       1.5838268995285034, 1.672337718307972, 1.6928166109137237.
    expect(s.delay_variation_ms.max_minus_min).toBe(10);
    expect(s.delay_variation_ms.basis).toBe("round-trip");
    expect(s.delay_variation_ms.ipdv_mean_abs).toBeCloseTo(24 / 7, 12);
    expect(s.delay_variation_ms.pdv_p99).toBe(10);
    expect(s.delay_variation_ms.jitter_rfc3550).toBeCloseTo(1.6928166109137237, 12);
    expect(DelayVariation.parse(s.delay_variation_ms)).toEqual(s.delay_variation_ms);
  });

  it("has no one-way block without a synchronised clock, and summarises the send schedule", () => {
    expect(s.one_way_ms).toBeNull();
    // send_error over the 10 non-duplicate packets 0.1 … 1.0: p50 rank 5 → 0.5; p99 rank 10 → 1.0.
    expect(s.send_error_ms).toEqual({ p50: 0.5, p99: 1.0 });
  });
});

describe("summarize: edge cases", () => {
  it("0 sent: nothing to say, every statistic null", () => {
    const s = summarize([], { sent: 0, clockSynced: true });
    expect(s).toEqual({
      packets: { sent: 0, received: 0, lost: 0, duplicates: 0, reordered: 0, late: 0 },
      loss_ratio: null,
      rtt_ms: NULL_RTT,
      delay_variation_ms: {
        max_minus_min: null,
        basis: "round-trip",
        ipdv_mean_abs: null,
        pdv_p99: null,
        jitter_rfc3550: null,
        null_reason: "fewer than 2 packets received",
      },
      one_way_ms: null,
      send_error_ms: { p50: null, p99: null },
      one_way_gate: { report: false, reason: "local-bound-unknown" },
    });
  });

  it("all lost: loss ratio 1 and null statistics", () => {
    // 3 sent, 0 received → lost 3, ratio 3/3 = 1.
    const s = summarize([lostPacket(0), lostPacket(1), lostPacket(2)], { sent: 3, clockSynced: false });
    expect(s.packets).toEqual({ sent: 3, received: 0, lost: 3, duplicates: 0, reordered: 0, late: 0 });
    expect(s.loss_ratio).toBe(1);
    expect(s.rtt_ms).toEqual(NULL_RTT);
    expect(s.delay_variation_ms.max_minus_min).toBeNull();
    expect(s.delay_variation_ms.jitter_rfc3550).toBeNull();
  });

  it("a single sample: every RTT statistic is that value, but no delay variation (needs 2)", () => {
    const s = summarize([rx(0, 42, 0)], { sent: 1, clockSynced: false });
    expect(s.rtt_ms).toEqual({ min: 42, mean: 42, median: 42, p95: 42, p99: 42, max: 42, stddev: 0 });
    // One packet has no variation to show: DV is null with the reason, never 0 (which would pass).
    expect(s.delay_variation_ms).toEqual({
      max_minus_min: null,
      basis: "round-trip",
      ipdv_mean_abs: null,
      pdv_p99: null,
      jitter_rfc3550: null,
      null_reason: "fewer than 2 packets received",
    });
    expect(s.loss_ratio).toBe(0);
  });

  it("duplicates count as duplicates only, never as received or in the RTT", () => {
    // seq 0 first reply 10 ms, two duplicate replies at 50 and 60 ms; seq 1 lost.
    const samples = [rx(0, 10, 0), rx(0, 50, 1, { dup: true }), rx(0, 60, 2, { dup: true }), lostPacket(1)];
    const s = summarize(samples, { sent: 2, clockSynced: false });
    expect(s.packets).toEqual({ sent: 2, received: 1, lost: 1, duplicates: 2, reordered: 0, late: 0 });
    expect(s.rtt_ms.max).toBe(10);
    expect(s.loss_ratio).toBe(0.5); // 1 / 2
  });

  it("counts RFC 4737 reordering against NextExp = max seq seen + 1", () => {
    // Arrival order 0,3,1,2,4: NextExp 1 → 3 ≥ 1, NextExp 4 → 1 < 4 reordered → 2 < 4 reordered
    // → 4 ≥ 4, NextExp 5. Total 2 (not 1: both 1 and 2 arrived after 3).
    const a = [rx(0, 10, 0), rx(3, 10, 1), rx(1, 10, 2), rx(2, 10, 3), rx(4, 10, 4)];
    expect(summarize(a, { sent: 5, clockSynced: false }).packets.reordered).toBe(2);
    // Arrival order 1,2,3,0: only 0 is below NextExp (4) → 1.
    const b = [rx(0, 10, 3), rx(1, 10, 0), rx(2, 10, 1), rx(3, 10, 2)];
    expect(summarize(b, { sent: 4, clockSynced: false }).packets.reordered).toBe(1);
  });

  it("late replies are lost and flagged, and their RTT stays out of the statistics", () => {
    // 4 sent; seq 2 came back after the loss timeout (3000 ms). Received 3, lost 1, late 1.
    const samples = [rx(0, 10, 0), rx(1, 12, 1), rx(2, 3000, 3, { late: true }), rx(3, 14, 2)];
    const s = summarize(samples, { sent: 4, clockSynced: false });
    expect(s.packets).toEqual({ sent: 4, received: 3, lost: 1, duplicates: 0, reordered: 0, late: 1 });
    expect(s.rtt_ms.max).toBe(14);
    expect(s.loss_ratio).toBe(0.25);
  });

  it("packets the prober sent but never reported are lost (sent comes from the prober)", () => {
    // An aborted run: 5 sent, only 3 samples → lost 5 − 3 = 2.
    const s = summarize([rx(0, 10, 0), rx(1, 10, 1), rx(2, 10, 2)], { sent: 5, clockSynced: false });
    expect(s.packets.lost).toBe(2);
    expect(s.loss_ratio).toBe(0.4);
  });

  it("skips IPDV pairs with a lost member and falls back to sequence order for jitter", () => {
    // Only seq 0 and 2 received: no consecutive pair → IPDV null.
    // No arrival indices → jitter in sequence order: |12 − 10| = 2 → J = 2/16 = 0.125.
    const samples: Sample[] = [
      { seq: 0, sent_at: T0, rtt_ms: 10 },
      lostPacket(1),
      { seq: 2, sent_at: T0 + 2000, rtt_ms: 12 },
    ];
    const dv = summarize(samples, { sent: 3, clockSynced: false }).delay_variation_ms;
    expect(dv.ipdv_mean_abs).toBeNull();
    expect(dv.jitter_rfc3550).toBe(0.125);
    expect(dv.max_minus_min).toBe(2);
  });
});

describe("summarize: one-way delays", () => {
  // RTTs 30, 34, 32 with forward 14, 18, 15 and reverse 16, 16, 17; the reflector states 0.25 ms.
  const samples = [
    rx(0, 30, 0, { fwd_ms: 14, rev_ms: 16, remote_error_ms: 0.25 }),
    rx(1, 34, 1, { fwd_ms: 18, rev_ms: 16, remote_error_ms: 0.25 }),
    rx(2, 32, 2, { fwd_ms: 15, rev_ms: 17, remote_error_ms: 0.25 }),
  ];
  // Gate: 10 % × (min RTT 30 / 2) = 1.5 ms. Local 0.5 + remote 0.25 = 0.75 ≤ 1.5 → reported.
  const bounded = { sent: 3, clockSynced: true, clockErrorMs: 0.5 };

  it("reports both directions and judges delay variation one-way forward when clocks are synced", () => {
    const s = summarize(samples, bounded);
    expect(s.one_way_gate).toEqual({ report: true, error_bound_ms: 0.75 });
    expect(s.one_way_ms?.error_bound_ms).toBe(0.75);
    // forward: min 14, mean 47/3 ≈ 15.667, max 18, max − min 4; reverse: 16, 49/3 ≈ 16.333, 17, 1.
    expect(s.one_way_ms?.clock_synced).toBe(true);
    expect(s.one_way_ms?.forward.min).toBe(14);
    expect(s.one_way_ms?.forward.mean).toBeCloseTo(47 / 3, 12);
    expect(s.one_way_ms?.forward.max).toBe(18);
    expect(s.one_way_ms?.forward.max_minus_min).toBe(4);
    expect(s.one_way_ms?.reverse.min).toBe(16);
    expect(s.one_way_ms?.reverse.mean).toBeCloseTo(49 / 3, 12);
    expect(s.one_way_ms?.reverse.max_minus_min).toBe(1);
    expect(OneWay.parse(s.one_way_ms)).toEqual(s.one_way_ms);
    // DV over forward delays 14 18 15: max − min 4; IPDV |4|,|−3| → 3.5; PDV 0 4 1 → p99 4;
    // jitter |D| = 4, 3: J = 4/16 = 0.25, then 0.25 + (3 − 0.25)/16 = 0.421875.
    expect(s.delay_variation_ms).toEqual({
      max_minus_min: 4,
      basis: "one-way-forward",
      ipdv_mean_abs: 3.5,
      pdv_p99: 4,
      jitter_rfc3550: 0.421875,
    });
  });

  it("withholds one-way delays when the clocks' summed bound is over 10 % of the one-way figure", () => {
    // Local 1.3 + remote 0.25 = 1.55 > 1.5 → withheld; DV falls back to round trip: 34 − 30 = 4.
    const s = summarize(samples, { ...bounded, clockErrorMs: 1.3 });
    expect(s.one_way_ms).toBeNull();
    expect(s.one_way_gate).toEqual({ report: false, reason: "bound-too-large", error_bound_ms: 1.55 });
    expect(s.delay_variation_ms.basis).toBe("round-trip");
    // Without a known local bound nothing is reported either.
    expect(summarize(samples, { sent: 3, clockSynced: true }).one_way_gate).toEqual({
      report: false,
      reason: "local-bound-unknown",
    });
  });

  it("drops one-way delays when the local clock is not synchronised", () => {
    const s = summarize(samples, { sent: 3, clockSynced: false });
    expect(s.one_way_ms).toBeNull();
    // Round trip instead: 34 − 30 = 4 as well, but labelled round-trip.
    expect(s.delay_variation_ms.basis).toBe("round-trip");
    expect(s.delay_variation_ms.max_minus_min).toBe(4);
  });

  it("drops one-way delays when any received packet lacks them", () => {
    const partial = [samples[0]!, samples[1]!, rx(2, 40, 2)];
    const s = summarize(partial, bounded);
    expect(s.one_way_gate).toEqual({ report: false, reason: "remote-clock-unsynced" });
    expect(s.one_way_ms).toBeNull();
    // RTTs 30 34 40 → max − min 10, round-trip.
    expect(s.delay_variation_ms.basis).toBe("round-trip");
    expect(s.delay_variation_ms.max_minus_min).toBe(10);
  });
});
