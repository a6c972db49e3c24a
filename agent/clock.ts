import { realtimeMs } from "./host/realtime.js";

/**
 * Time is injected so timing code can be tested without sleeping. Intervals use the monotonic clock
 * (`mono`), timestamps use the wall clock (`now`): a wall-clock step (NTP) must never bend an RTT.
 */
export interface Clock {
  /** Wall clock, epoch milliseconds (may step), sub-millisecond where the platform allows. */
  now(): number;
  /** Monotonic milliseconds with sub-millisecond resolution (never steps). */
  mono(): number;
  /** Resolve after `ms` monotonic milliseconds, or reject with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  // CLOCK_REALTIME through the FFI (µs), else the slewed performance clock: never whole-ms Date.now().
  now: realtimeMs,
  mono: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * A clock whose time only moves when a test says so. `sleep` resolves when `advance` passes its
 * deadline, in deadline order.
 */
export class FakeClock implements Clock {
  private wall: number;
  private monoMs = 0;
  private sleepers: { until: number; resolve: () => void }[] = [];

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.wall = startWallMs;
  }

  now(): number {
    return this.wall;
  }

  mono(): number {
    return this.monoMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const entry = { until: this.monoMs + Math.max(0, ms), resolve };
      this.sleepers.push(entry);
      signal?.addEventListener(
        "abort",
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Step the wall clock alone (an NTP step): the monotonic clock does not move. */
  stepWall(ms: number): void {
    this.wall += ms;
  }

  /** Move both clocks forward, waking sleepers whose deadline has passed. */
  async advance(ms: number): Promise<void> {
    const target = this.monoMs + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.until - b.until);
      const next = this.sleepers[0];
      if (!next || next.until > target) break;
      this.sleepers.shift();
      this.wall += next.until - this.monoMs;
      this.monoMs = next.until;
      next.resolve();
      // Let the woken task run before waking the next one.
      await new Promise((r) => setImmediate(r));
    }
    this.wall += target - this.monoMs;
    this.monoMs = target;
  }
}
