import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../agent/clock.js";
import { silentLogger } from "../../../agent/log.js";
import { type Attempt, runAttempts } from "../../../agent/probe/attempts.js";
import type { ProbeContext, ProbeSpec, Sample } from "../../../agent/probe/prober.js";

const WALL0 = Date.UTC(2026, 0, 1);

function context(clock: FakeClock, signal: AbortSignal, seen: Sample[]): ProbeContext {
  return {
    signal,
    clock,
    log: silentLogger(),
    clockSync: { synced: false, source: "unknown" },
    onSample: (s) => seen.push({ ...s }),
  };
}

/** Advance the fake clock in 1 ms steps until the run settles; bounded so a bug cannot spin forever. */
async function drive<T>(clock: FakeClock, run: Promise<T>, maxMs: number): Promise<T> {
  let settled = false;
  const watched = run.finally(() => {
    settled = true;
  });
  for (let t = 0; t < maxMs && !settled; t++) await clock.advance(1);
  expect(settled).toBe(true);
  return watched;
}

/** Answers after `ms` fake milliseconds with the given verdict. */
function answersAfter(clock: FakeClock, ms: number, ok: boolean): Attempt {
  return async () => {
    await clock.sleep(ms);
    return { ok };
  };
}

/** Waits for the signal and never answers: a black-holed SYN or a server that never replies. */
const never: Attempt = (signal) =>
  new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));

describe("runAttempts", () => {
  const spec: Pick<ProbeSpec, "count" | "interval_ms" | "schedule" | "loss_timeout_ms"> = {
    count: 5,
    interval_ms: 100,
    schedule: "periodic",
    loss_timeout_ms: 50,
  };

  it("times each attempt on the monotonic clock and settles failures as lost", async () => {
    const clock = new FakeClock(WALL0);
    const seen: Sample[] = [];
    // seq 0 answers after 10 ms; 1 throws (refused); 2 never answers; 3 answers "not ok" (HTTP 500)
    // after 20 ms; 4 answers after 30 ms.
    const attempts: Attempt[] = [
      answersAfter(clock, 10, true),
      async () => {
        throw new Error("ECONNREFUSED");
      },
      never,
      answersAfter(clock, 20, false),
      answersAfter(clock, 30, true),
    ];
    let call = 0;
    const run = runAttempts(spec, context(clock, new AbortController().signal, seen), (signal) => {
      const next = attempts[call++];
      if (!next) throw new Error("more attempts than count");
      return next(signal);
    });
    const samples = await drive(clock, run, 1000);

    // Scheduled at 0, 100, 200, 300, 400 ms; the fake clock wakes sleepers exactly on time.
    expect(samples).toEqual([
      { seq: 0, sent_at: WALL0, rtt_ms: 10, send_error_ms: 0, arrival: 0 },
      { seq: 1, sent_at: WALL0 + 100, rtt_ms: null, send_error_ms: 0 },
      { seq: 2, sent_at: WALL0 + 200, rtt_ms: null, send_error_ms: 0 },
      { seq: 3, sent_at: WALL0 + 300, rtt_ms: null, send_error_ms: 0 },
      { seq: 4, sent_at: WALL0 + 400, rtt_ms: 30, send_error_ms: 0, arrival: 1 },
    ]);
    // Settled at 10, 100, 250 (timeout), 320 and 430 ms: in that order.
    expect(seen.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it("spaces attempts by exponential gaps on a Poisson schedule", async () => {
    const clock = new FakeClock(WALL0);
    const ok: Attempt = async () => ({ ok: true });
    const run = runAttempts(
      { ...spec, count: 3, schedule: "poisson" },
      context(clock, new AbortController().signal, []),
      ok,
      () => 0.5,
    );
    const samples = await drive(clock, run, 1000);
    // A truncated Poisson process on [0, 3 × 100 ms): gap = −ln(1 − 0.5) × 100 = 69.3147 ms →
    // 69.3147, 138.6294, 207.9442, 277.2589; the next (346.57) is past 300 ms. 4 attempts, not 3.
    const offsets = samples.map((s) => s.sent_at - WALL0);
    expect(offsets).toHaveLength(4);
    expect(offsets[0]).toBeCloseTo(69.3147, 3);
    expect(offsets[1]).toBeCloseTo(138.6294, 3);
    expect(offsets[3]).toBeCloseTo(277.2589, 3);
  });

  it("stops starting attempts on abort and counts the one in flight as lost", async () => {
    const clock = new FakeClock(WALL0);
    const controller = new AbortController();
    let started = 0;
    const run = runAttempts(
      { ...spec, count: 10, loss_timeout_ms: 1000 },
      context(clock, controller.signal, []),
      (signal) => {
        started++;
        return never(signal);
      },
    );
    // Attempts start at 0, 100, 200; abort at 250 ms ends all three and the sleep before the fourth.
    await clock.advance(250);
    controller.abort(new Error("stop"));
    const samples = await drive(clock, run, 100);
    expect(started).toBe(3);
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [0, null],
      [1, null],
      [2, null],
    ]);
  });
});
