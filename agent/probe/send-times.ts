import type { ProbeSpec } from "./prober.js";

/**
 * Fewest packets a Poisson run may expect (rate × sending time). A truncated Poisson process sends
 * a random count: with fewer than this expected, an empty run (P = e^−20 ≈ 2·10⁻⁹) or a count far off
 * the mean becomes likely. Config validation refuses less (config/rules.ts).
 */
export const MIN_POISSON_EXPECTED_PACKETS = 20;

/**
 * Send offsets from the start of a run, ms, in order.
 *
 * periodic: `count` packets at 0, interval, 2·interval, …
 * poisson: a truncated Poisson process (RFC 2330 §11.1.1; RFC 3432 discusses its truncation) on
 * [0, W): exponential gaps with mean `interval_ms` drawn from the start until the next would fall at
 * or after W, the run's sending time. The count varies run to run (mean W / interval_ms) and no
 * packet is ever sent after the interval the result claims (issue 9: a fixed count of exponential gaps
 * spilled past the interval in 46 % of 60 s intervals). W = `send_window_ms`, else count × interval.
 */
export function* sendOffsets(
  spec: Pick<ProbeSpec, "count" | "interval_ms" | "schedule" | "send_window_ms">,
  random: () => number = Math.random,
): Generator<number> {
  if (spec.schedule !== "poisson") {
    for (let k = 0; k < spec.count; k++) yield k * spec.interval_ms;
    return;
  }
  const window = spec.send_window_ms ?? spec.count * spec.interval_ms;
  let t = 0;
  for (;;) {
    t += exponentialGapMs(spec.interval_ms, random);
    if (t >= window) return;
    yield t;
  }
}

/** One exponential gap with the given mean, by inversion; 1 − u keeps log away from 0. */
export function exponentialGapMs(meanMs: number, random: () => number = Math.random): number {
  return -Math.log(1 - random()) * meanMs;
}
