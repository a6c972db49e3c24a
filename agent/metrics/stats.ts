/**
 * Small descriptive statistics over plain number arrays. Hand-written rather than pulled from a
 * statistics package because each is a few lines and the exact definitions (nearest-rank percentile,
 * population standard deviation) are part of what a result means, so they are pinned here and tested.
 */

/** Ascending copy; the input is left untouched. */
export function sortedAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * Nearest-rank percentile (the definition RFC 2330 §11.3 and most SLA texts use): the smallest value
 * such that at least p % of the values are ≤ it, i.e. sorted[ceil(p/100 · N) − 1], rank 1 for p = 0.
 * It always returns an observed value, never an interpolation. The same method gives the median
 * (p = 50), which for an even N is the lower of the two middle values.
 * `sorted` must already be ascending; null when empty.
 */
export function percentileNearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

/** Arithmetic mean; null when empty. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Population standard deviation (divide by N, not N − 1): the interval's packets are the whole
 * population being described, not a sample of a larger one. One value → 0; none → null.
 */
export function stddevPopulation(values: readonly number[]): number | null {
  const m = mean(values);
  if (m === null) return null;
  let squares = 0;
  for (const v of values) squares += (v - m) * (v - m);
  return Math.sqrt(squares / values.length);
}

/** Smallest and largest value in one pass; null when empty (Math.min(...[]) would give Infinity). */
export function minMax(values: readonly number[]): { min: number; max: number } | null {
  const first = values[0];
  if (first === undefined) return null;
  let min = first;
  let max = first;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}
