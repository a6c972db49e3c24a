/**
 * Per-source token buckets: each source address may send `ratePps` packets per second on average and
 * `burst` back to back. Keyed by address only (not port), so a flood cannot dodge the limit by
 * changing ports. Hand-written because it is a dozen lines and must run on the reflector's hot path
 * with the injected monotonic clock.
 */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePps: number,
    private readonly burst: number,
    /** Bound on remembered sources; idle (full) buckets are forgotten first. */
    private readonly maxSources = 10_000,
  ) {}

  /** Take one token for `source` at monotonic time `nowMs`; false = over the limit. */
  allow(source: string, nowMs: number): boolean {
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= this.maxSources) this.prune(nowMs);
      bucket = { tokens: this.burst, at: nowMs };
      this.buckets.set(source, bucket);
    } else {
      const refill = ((nowMs - bucket.at) / 1000) * this.ratePps;
      bucket.tokens = Math.min(this.burst, bucket.tokens + Math.max(0, refill));
      bucket.at = nowMs;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private prune(nowMs: number): void {
    for (const [source, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((nowMs - bucket.at) / 1000) * this.ratePps;
      if (tokens >= this.burst) this.buckets.delete(source);
    }
    // Still full of active sources: drop the oldest-inserted so memory stays bounded.
    while (this.buckets.size >= this.maxSources) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
  }
}
