import { libcTime } from "./libc-time.js";

/**
 * Wall-clock time (CLOCK_REALTIME, epoch milliseconds with sub-microsecond resolution) for timestamps.
 *
 * Where koffi loads, clock_gettime(CLOCK_REALTIME) is read directly: the kernel already slews it for
 * NTP, and the kernel's packet timestamps are on the same clock. Elsewhere (another OS, no koffi) the
 * fallback is `performance.timeOrigin + performance.now()` kept on the wall clock by a SlewingMap that
 * absorbs the difference at a bounded rate and never runs backwards. Date.now() alone is whole
 * milliseconds, too coarse for one-way delays.
 */

/** Largest rate at which a small offset is slewed out: 500 ppm, the kernel's own limit (adjtimex(2)). */
export const MAX_SLEW_RATE = 0.0005;
/** Offsets larger than this are not slewed at 500 ppm (it would take hours) — ntpd's step threshold. */
export const STEP_THRESHOLD_MS = 128;
/** A large backward offset is caught up at this rate: the clock runs at 95 %, still never backwards. */
export const FAST_SLEW_RATE = 0.05;

/**
 * A mapping from a monotonic clock onto the wall clock that follows the wall clock without stepping
 * backwards. `discipline(mono, wall)` gives it a new reference reading; the difference (the offset) is
 * then slewed out — at ≤ 500 ppm when it is under 128 ms, at 5 % when the wall clock went back further
 * — except that a large forward offset is stepped at once (forward steps keep the output monotonic,
 * and a clock hours behind helps nobody). Readings are never smaller than an earlier reading.
 * Pure arithmetic on the numbers it is given: tested with hand-computed values.
 */
export class SlewingMap {
  private anchorMono: number;
  private anchorWall: number;
  /** Offset still to absorb, ms (+ = the map is behind the wall clock). */
  private correction = 0;
  private rate = 0;

  constructor(mono: number, wall: number) {
    this.anchorMono = mono;
    this.anchorWall = wall;
  }

  /**
   * Epoch ms for a monotonic reading. Between disciplines the slope is 1 ± the slew rate (never below
   * 0.95), and each discipline starts where the old mapping stood, so later readings are never smaller.
   */
  at(mono: number): number {
    const elapsed = mono - this.anchorMono;
    const slewed = Math.min(Math.abs(this.correction), this.rate * Math.max(0, elapsed));
    return this.anchorWall + elapsed + Math.sign(this.correction) * slewed;
  }

  /** Offset not yet absorbed at `mono`, ms: add it to the clock's error bound. */
  residual(mono: number): number {
    return Math.max(0, Math.abs(this.correction) - this.rate * Math.max(0, mono - this.anchorMono));
  }

  /** A fresh reference: the wall clock read `wall` at monotonic `mono`. */
  discipline(mono: number, wall: number): void {
    const here = this.at(mono);
    const offset = wall - here;
    this.anchorMono = mono;
    this.anchorWall = here;
    if (offset > STEP_THRESHOLD_MS) {
      this.anchorWall = wall; // forward step: allowed, output stays monotonic
      this.correction = 0;
      this.rate = 0;
      return;
    }
    this.correction = offset;
    this.rate = offset < -STEP_THRESHOLD_MS ? FAST_SLEW_RATE : MAX_SLEW_RATE;
  }
}

/** How often the fallback re-reads the wall clock. */
const DISCIPLINE_EVERY_MS = 10_000;

/** Widest bracket of monotonic readings (ms) around a Date.now() tick that is taken as its edge. */
const EDGE_WINDOW_MS = 0.002;
/** Ticks tried for a narrow bracket (each at most 1 ms of spinning) before the narrowest one is used. */
const EDGE_ATTEMPTS = 20;

/**
 * The wall clock as Date.now() says it, to about a microsecond: spin until Date.now() ticks over (at
 * most 1 ms), so the reading is taken at the edge of a millisecond rather than anywhere inside it.
 * Returns the pair (monotonic, wall) taken at that edge: `mono` is the middle of the monotonic
 * readings just before the last Date.now() that still gave the old value and just after the first that
 * gave the new one, so the edge lies within ± EDGE_WINDOW_MS / 2 of it. A thread preempted in between
 * (a loaded host: tens of ms) widens that bracket; such a tick is not used but the next one is tried,
 * since a single pair read across a preemption put the clock 35 ms or more ahead (1 run in 150 under load).
 */
function edgeReading(): { mono: number; wall: number } {
  let best = { mono: 0, wall: 0, width: Number.POSITIVE_INFINITY };
  for (let attempt = 0; attempt < EDGE_ATTEMPTS; attempt++) {
    let before = performance.now();
    const start = Date.now();
    for (;;) {
      const mono = performance.now();
      const wall = Date.now();
      if (wall === start) {
        before = mono; // read before a Date.now() still at `start`: the tick comes after it
        continue;
      }
      const after = performance.now(); // read after the first new Date.now(): the tick came before it
      const width = after - before;
      if (width <= EDGE_WINDOW_MS) return { mono: (before + after) / 2, wall };
      if (width < best.width) best = { mono: (before + after) / 2, wall, width };
      break;
    }
  }
  return { mono: best.mono, wall: best.wall };
}

let fallback: { map: SlewingMap; timer: NodeJS.Timeout } | undefined;

function fallbackMap(): SlewingMap {
  if (!fallback) {
    const map = new SlewingMap(0, performance.timeOrigin);
    const discipline = () => {
      const r = edgeReading();
      map.discipline(r.mono, r.wall);
    };
    discipline();
    const timer = setInterval(discipline, DISCIPLINE_EVERY_MS);
    timer.unref();
    fallback = { map, timer };
  }
  return fallback.map;
}

/** Epoch milliseconds from CLOCK_REALTIME (koffi) or the slewed performance clock. */
export function realtimeMs(): number {
  const libc = libcTime();
  if (libc) return libc.realtimeMs();
  return fallbackMap().at(performance.now());
}

/** Which source realtimeMs() reads, and what it adds to the clock's error bound (ms). */
export function realtimeSource(): { source: "clock_gettime" | "performance"; residual_ms: number } {
  if (libcTime()) return { source: "clock_gettime", residual_ms: 0 };
  const map = fallbackMap();
  // Date.now() edges are placed within ± EDGE_WINDOW_MS / 2 (edgeReading).
  return { source: "performance", residual_ms: map.residual(performance.now()) + EDGE_WINDOW_MS / 2 };
}
