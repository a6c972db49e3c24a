/**
 * Rendered reports kept per request (format, language, period, range, zone) for a while. A month of a
 * national mesh takes seconds of database time; the same page asked for again within the TTL costs
 * nothing, and the same page asked for by ten browsers at once is computed once (single flight).
 * A range that ended before `now` changes only through late arrivals (an agent's outbox replaying), so
 * it is kept longer than one still running.
 */
export interface ReportCacheOptions {
  /** TTL of a report whose range reaches `now` (it grows as results arrive), ms. */
  open_ttl_ms: number;
  /** TTL of a report whose range ended before `now`, ms. */
  closed_ttl_ms: number;
  /** Most entries; the oldest goes first. */
  max_entries: number;
}

export const DEFAULT_REPORT_CACHE: ReportCacheOptions = {
  open_ttl_ms: 60_000,
  closed_ttl_ms: 600_000,
  max_entries: 32,
};

interface Entry {
  value: Promise<string>;
  expires_ms: number;
}

export class ReportCache {
  private readonly entries = new Map<string, Entry>();
  private readonly options: ReportCacheOptions;
  private hitCount = 0;
  private missCount = 0;

  constructor(options: Partial<ReportCacheOptions> = {}) {
    this.options = { ...DEFAULT_REPORT_CACHE, ...options };
  }

  /** The cached value for `key`, or `compute()`'s, shared by every caller until it expires. */
  get(key: string, closed: boolean, now_ms: number, compute: () => Promise<string>): Promise<string> {
    const have = this.entries.get(key);
    if (have && have.expires_ms > now_ms) {
      this.hitCount += 1;
      return have.value;
    }
    this.missCount += 1;
    const value = compute();
    const ttl = closed ? this.options.closed_ttl_ms : this.options.open_ttl_ms;
    this.entries.delete(key);
    this.entries.set(key, { value, expires_ms: now_ms + ttl });
    // A failure is not kept: the next request tries again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    while (this.entries.size > this.options.max_entries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return value;
  }

  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.entries.size, hits: this.hitCount, misses: this.missCount };
  }
}
