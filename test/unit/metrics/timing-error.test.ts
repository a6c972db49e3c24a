import { describe, expect, it } from "vitest";
import { isHostTiming, timingError } from "../../../agent/metrics/timing-error.js";
import type { Sample } from "../../../agent/probe/prober.js";

const s = (seq: number, rtt: number | null, extra: Partial<Sample> = {}): Sample => ({
  seq,
  sent_at: 1_000 * seq,
  rtt_ms: rtt,
  ...extra,
});

// One interval as the kernel-stamped STAMP sender reports it. Hand values:
//   send_error_ms 0.2, 6.0, 0.3, 0.1, 0.4 → sorted 0.1 0.2 0.3 0.4 6.0, p99 (nearest rank 5) = 6.0
//   reflector_ms 0.02, 7.5, 0.03, 0.02 (seq 3 lost) → sorted 0.02 0.02 0.03 7.5, median (rank 2) 0.02,
//     max − median = 7.48
//   t1 from the clock on seq 1 (send() took 0.05 ms) and seq 4 (0.12 ms), TX stamps on the rest → t1_clock 0.12
//   Follow-Up Telemetry confirmed seq 0 (+0.004 ms), seq 1 (+2.5 ms): G = 2.5 (reflector_t3_corrected).
//     RTTs 0.03 0.05 0.04 0.04, max − min 0.02. Unconfirmed seq 2 and 4 (0.04) could each be as low as
//     max(0, 0.04 − 2.5) = 0 → max − min up to 0.05 − 0 = 0.05 (seq 1 confirmed stays at 0.05),
//     down to 0.05 − 0.03 = 0.02 at least (the confirmed two) → moved up to 0.03 = reflector_t3
const kernelRun: Sample[] = [
  s(0, 0.03, { send_error_ms: 0.2, reflector_ms: 0.02, t1_source: "kernel-tx", t3_follow_up_ms: 0.004 }),
  s(1, 0.05, {
    send_error_ms: 6.0,
    reflector_ms: 7.5,
    t1_source: "clock",
    send_call_ms: 0.05,
    t3_follow_up_ms: 2.5,
  }),
  s(2, 0.04, { send_error_ms: 0.3, reflector_ms: 0.03, t1_source: "kernel-tx", send_call_ms: 9 }),
  s(3, null, { send_error_ms: 0.1 }),
  s(4, 0.04, { send_error_ms: 0.4, reflector_ms: 0.02, t1_source: "clock", send_call_ms: 0.12 }),
];

describe("timingError", () => {
  it("user mode: counts event loop, send schedule and residence outliers (all reach T1–T4)", () => {
    const t = timingError({ timestamps: "user", event_loop_delay_ms: 1.25, samples: kernelRun });
    expect(t.terms.event_loop_delay).toBe(1.25);
    expect(t.terms.send_schedule).toBe(6.0);
    expect(t.terms.reflector_residence).toBeCloseTo(7.48, 12);
    expect(t.bound).toBeCloseTo(1.25 + 6.0 + 7.48, 12); // 14.73
    expect(t.not_counted).toEqual({});
  });

  it("kernel mode: counts only clock T1 and unconfirmed T3, reports the rest as not counted", () => {
    const t = timingError({ timestamps: "kernel", event_loop_delay_ms: 1.25, samples: kernelRun });
    // seq 2's 9 ms send() does not count: its T1 is the kernel's TX stamp.
    expect(t.terms.t1_clock).toBe(0.12);
    expect(t.terms.reflector_t3).toBeCloseTo(0.03, 12);
    expect(Object.keys(t.terms)).toEqual(["t1_clock", "reflector_t3"]);
    expect(t.bound).toBeCloseTo(0.15, 12);
    expect(t.not_counted.event_loop_delay).toBe(1.25);
    expect(t.not_counted.send_schedule).toBe(6.0);
    expect(t.not_counted.reflector_residence).toBeCloseTo(7.48, 12);
    expect(t.not_counted.reflector_t3_corrected).toBe(2.5);
  });

  it("kernel mode: every reply confirmed and every T1 stamped → bound 0 however busy the hosts were", () => {
    const clean = kernelRun.map((x) =>
      x.rtt_ms === null ? x : { ...x, t1_source: "kernel-tx" as const, t3_follow_up_ms: 0.01 },
    );
    const t = timingError({ timestamps: "kernel", samples: clean });
    expect(t.terms).toEqual({});
    expect(t.bound).toBe(0);
    expect(t.not_counted.reflector_t3_corrected).toBe(0.01);
    // 10 % of internet-3.2.2's 80 ms DV limit is 8 ms: 0 is far inside, the user-mode 14.73 is not.
    expect(isHostTiming(t.bound, 80)).toBe(false);
    expect(isHostTiming(timingError({ timestamps: "user", samples: kernelRun }).bound, 80)).toBe(true);
  });

  it("kernel mode: an unconfirmed last reply inside the others' range moves nothing", () => {
    // RTTs 0.05 (confirmed, gap 11.8), 0.02 (confirmed, 0.01), last 0.03 unconfirmed: as low as
    // max(0, 0.03 − 11.8) = 0 → max − min 0.05 − 0 = 0.05 vs 0.03: moved 0.02. With the last at 0.06
    // (above the others): 0 → 0.05 − 0 = 0.05 vs 0.06 − 0.02 = 0.04: moved 0.01.
    const run = (last: number) => [
      s(0, 0.05, { reflector_ms: 0.02, t1_source: "kernel-tx", t3_follow_up_ms: 11.8 }),
      s(1, 0.02, { reflector_ms: 0.02, t1_source: "kernel-tx", t3_follow_up_ms: 0.01 }),
      s(2, last, { reflector_ms: 0.02, t1_source: "kernel-tx" }),
    ];
    expect(timingError({ timestamps: "kernel", samples: run(0.03) }).terms.reflector_t3).toBeCloseTo(
      0.02,
      12,
    );
    expect(timingError({ timestamps: "kernel", samples: run(0.06) }).terms.reflector_t3).toBeCloseTo(
      0.01,
      12,
    );
    // A 20 ms path: the last at 20.3 between 20.1 and 20.5 could drop to 8.5 → moved 12.0 - 0.4 = 11.6.
    const path = [
      s(0, 20.5, { reflector_ms: 0.02, t3_follow_up_ms: 11.8 }),
      s(1, 20.1, { reflector_ms: 0.02, t3_follow_up_ms: 0.01 }),
      s(2, 20.3, { reflector_ms: 0.02 }),
    ];
    expect(timingError({ timestamps: "kernel", samples: path }).terms.reflector_t3).toBeCloseTo(11.6, 9);
  });

  it("kernel mode, no reply confirmed (authenticated without the HMAC TLV, small packets, an RFC 8762 reflector): the whole max − min counts", () => {
    // RTTs 0.03 0.05 0.04 0.04, all T3 unconfirmed and no G to estimate from: each could be as low as
    // the lowest, 0.03 → max − min could be 0 instead of 0.02: reflector_t3 = 0.02.
    const plain = kernelRun.map(({ t3_follow_up_ms: _drop, ...x }) => x);
    const t = timingError({ timestamps: "kernel", samples: plain });
    expect(t.terms.t1_clock).toBe(0.12);
    expect(t.terms.reflector_t3).toBeCloseTo(0.02, 12);
    expect(t.bound).toBeCloseTo(0.14, 12);
    expect(t.not_counted.reflector_t3_corrected).toBeUndefined();
    // The reviewer's authenticated interval: DV 10.5 ms, nothing confirmed → bound 10.5, flagged
    // host-timing against internet-3.2.2's 80 ms DV limit (10 % = 8 ms), no longer "bound 0".
    const auth = [0.2, 10.7, 0.3, 0.25].map((rtt, i) =>
      s(i, rtt, { reflector_ms: 0.02, t1_source: "kernel-tx", follow_up_requested: true }),
    );
    const a = timingError({ timestamps: "kernel", samples: auth });
    expect(a.terms).toEqual({ reflector_t3: 10.5 });
    expect(isHostTiming(a.bound, 80)).toBe(true);
  });

  it("kernel mode: the last reply's missing follow-up counts with the interval's largest confirmed gap", () => {
    // RTTs 1.0 1.1 1.05 (confirmed, gaps 0.01 0.02 0.03) and a last one of 4.0 (unconfirmed): G = 0.03,
    // so the last lies in [3.97, 4.0] → max − min between 3.97 − 1.0 = 2.97 and 3.0: moved 0.03.
    const run = [
      s(0, 1.0, { reflector_ms: 0.02, t3_follow_up_ms: 0.01 }),
      s(1, 1.1, { reflector_ms: 0.02, t3_follow_up_ms: 0.02 }),
      s(2, 1.05, { reflector_ms: 0.02, t3_follow_up_ms: 0.03 }),
      s(3, 4.0, { reflector_ms: 0.02 }),
    ];
    expect(timingError({ timestamps: "kernel", samples: run }).terms.reflector_t3).toBeCloseTo(0.03, 12);
    // Replies whose T3 was not subtracted (reflector_ms absent: contradictory reflector times) move nothing.
    const untimed = run.map((x) => (x.seq === 3 ? { ...x, reflector_ms: undefined } : x));
    expect(timingError({ timestamps: "kernel", samples: untimed }).terms.reflector_t3).toBeUndefined();
  });
});
