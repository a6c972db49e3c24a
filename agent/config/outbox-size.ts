/**
 * The default outbox bound, derived from the tests this agent runs: the outbox must hold `max_age_s`
 * (7 days by default) of results, so that an agent cut off from its collector for a week loses nothing
 * to `max_bytes` first. A fixed 64 MiB held ≈ 1.3 days of six 10-second tests (issue 7).
 */

/**
 * Bytes one result takes in the outbox: a result message measured ≈ 1.0–1.5 KiB of JSON, plus the
 * coming `prev` hash and `sig` (≈ 250 B), the topic and the 28-byte frame header; rounded up.
 */
export const OUTBOX_BYTES_PER_RESULT = 2048;
/** Never below the old fixed default: a config with few or rare tests keeps room for bursts. */
export const OUTBOX_MIN_DEFAULT_BYTES = 64 << 20;
/** Head-room over the exact figure (bigger results, a clock that runs a little fast). */
const MARGIN = 1.25;

export interface RatedTest {
  continuous?: { interval_s: number } | undefined;
  scheduled?: { duration_s: number } | undefined;
}

/**
 * Results per second at most: one per interval for a continuous test; for a scheduled one at most one
 * per `duration_s`, because runs never overlap (node-cron `noOverlap`).
 */
export function resultsPerSecond(tests: readonly RatedTest[]): number {
  let rate = 0;
  for (const t of tests) {
    if (t.continuous) rate += 1 / t.continuous.interval_s;
    else if (t.scheduled) rate += 1 / t.scheduled.duration_s;
  }
  return rate;
}

/** Days of results `maxBytes` holds at `rate` results/s (Infinity with no tests). */
export function outboxDays(maxBytes: number, rate: number): number {
  return rate === 0 ? Number.POSITIVE_INFINITY : maxBytes / (rate * OUTBOX_BYTES_PER_RESULT * 86_400);
}

/** The default `outbox.max_bytes` for `tests` and `maxAgeS`: max_age's worth of results with margin. */
export function defaultOutboxBytes(tests: readonly RatedTest[], maxAgeS: number): number {
  const need = Math.ceil(resultsPerSecond(tests) * maxAgeS * OUTBOX_BYTES_PER_RESULT * MARGIN);
  // A whole MiB, so the figure reads well in `validate`.
  return Math.max(OUTBOX_MIN_DEFAULT_BYTES, Math.ceil(need / (1 << 20)) * (1 << 20));
}
