/**
 * How late this thread's event loop ran during a window of time: the measurement-thread term of an
 * interval's timing-error bound (issue 8). Any timestamp taken in JavaScript (a STAMP T4 read in a
 * 'message' callback, a TCP connect resolving) can be that late.
 *
 * One sampler for the process, not one per run: a timer every `resolutionMs` notes how far past its
 * due time it fired. perf_hooks.monitorEventLoopDelay measures the same thing, but its histogram is
 * cumulative and one per caller, and thirty concurrent tests each with their own 4 ms timer would be
 * 7,500 wake-ups a second; windows over one shared series cost one timer. The timer runs only while a
 * window is open. A stall shorter than the resolution can hide between two ticks, so a window's figure
 * is the largest lag seen plus the resolution: a bound, not an estimate.
 */
export const LOOP_SAMPLE_RESOLUTION_MS = 4;

/** Lags below this are not kept (noise of the timer itself); they are covered by the resolution term. */
const KEEP_LAG_ABOVE_MS = 0.1;

export interface LoopTimers {
  now(): number;
  /** Call `tick` after `ms`; returns a cancel function. */
  after(ms: number, tick: () => void): () => void;
}

const realTimers: LoopTimers = {
  now: () => performance.now(),
  after(ms, tick) {
    const t = setTimeout(tick, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export class LoopDelaySampler {
  private lags: { at: number; lag: number }[] = [];
  private open = new Set<{ from: number }>();
  private cancel: (() => void) | undefined;
  private due = 0;

  constructor(
    private readonly resolutionMs = LOOP_SAMPLE_RESOLUTION_MS,
    private readonly timers: LoopTimers = realTimers,
  ) {}

  /** Open a window now; the returned function closes it and gives the bound for it, ms. */
  window(): () => number {
    const w = { from: this.timers.now() };
    this.open.add(w);
    if (!this.cancel) this.arm();
    return () => {
      this.open.delete(w);
      let max = 0;
      for (const x of this.lags) if (x.at >= w.from && x.lag > max) max = x.lag;
      this.prune();
      return max + this.resolutionMs;
    };
  }

  private arm(): void {
    this.due = this.timers.now() + this.resolutionMs;
    this.cancel = this.timers.after(this.resolutionMs, () => this.tick());
  }

  private tick(): void {
    const now = this.timers.now();
    const lag = now - this.due;
    if (lag > KEEP_LAG_ABOVE_MS) this.lags.push({ at: now, lag });
    this.cancel = undefined;
    if (this.open.size > 0) this.arm();
  }

  /** Forget lags no open window can ask for; with none open, forget all. */
  private prune(): void {
    let oldest = Number.POSITIVE_INFINITY;
    for (const w of this.open) oldest = Math.min(oldest, w.from);
    this.lags = this.lags.filter((x) => x.at >= oldest);
    if (this.open.size === 0) {
      this.cancel?.();
      this.cancel = undefined;
    }
  }
}

/** The process's sampler. */
export const loopDelay = new LoopDelaySampler();
