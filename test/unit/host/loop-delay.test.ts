import { describe, expect, it } from "vitest";
import { LoopDelaySampler, type LoopTimers } from "../../../agent/host/loop-delay.js";

/** Timers driven by hand: `fire(at)` runs the pending tick as if the loop got to it at time `at`. */
function manualTimers() {
  let now = 0;
  let pending: { due: number; tick: () => void } | undefined;
  const timers: LoopTimers = {
    now: () => now,
    after(ms, tick) {
      pending = { due: now + ms, tick };
      return () => {
        pending = undefined;
      };
    },
  };
  return {
    timers,
    /** Run the pending tick at `at` (≥ its due time: a late loop fires it late). */
    fire(at: number) {
      const p = pending;
      if (!p) throw new Error("no tick pending");
      now = at;
      pending = undefined;
      p.tick();
    },
    get pending() {
      return pending;
    },
    set now(v: number) {
      now = v;
    },
  };
}

describe("LoopDelaySampler", () => {
  it("bounds a window by its largest lag plus the resolution", () => {
    const t = manualTimers();
    const sampler = new LoopDelaySampler(4, t.timers);
    const close = sampler.window(); // opened at 0: tick due at 4
    t.fire(4); // on time: lag 0; next due 8
    t.fire(20); // 12 ms late (the loop was blocked); next due 24
    t.fire(24.5); // 0.5 late
    // Largest lag 12 + resolution 4 = 16.
    expect(close()).toBe(16);
    // Nothing open: the timer is cancelled.
    expect(t.pending).toBeUndefined();
  });

  it("gives each window only the lags inside it", () => {
    const t = manualTimers();
    const sampler = new LoopDelaySampler(4, t.timers);
    const first = sampler.window(); // at 0
    t.fire(14); // due 4, lag 10
    t.now = 15;
    const second = sampler.window(); // opened at 15, after that lag
    t.fire(19); // due 18, lag 1
    expect(second()).toBe(5); // 1 + 4
    expect(first()).toBe(14); // 10 + 4
  });

  it("says the resolution when the loop was never late: a stall shorter than a tick may hide", () => {
    const t = manualTimers();
    const sampler = new LoopDelaySampler(4, t.timers);
    const close = sampler.window();
    t.fire(4);
    t.fire(8);
    expect(close()).toBe(4);
  });
});
