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
  /**
   * Most bytes of rendered reports kept; the oldest go first (the newest is always kept). A national
   * month is ~15 MB of JSON: without this bound 32 entries could hold half a gigabyte.
   */
  max_bytes: number;
}

export const DEFAULT_REPORT_CACHE: ReportCacheOptions = {
  open_ttl_ms: 60_000,
  closed_ttl_ms: 600_000,
  max_entries: 32,
  max_bytes: 64 * 1_048_576,
};

interface Entry {
  /** The rendered body as UTF-8 bytes (encoded once, sent as is to every request). */
  value: Promise<Buffer>;
  expires_ms: number;
  /** Known once the value resolves. */
  bytes: number;
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
  get(key: string, closed: boolean, now_ms: number, compute: () => Promise<Buffer>): Promise<Buffer> {
    const have = this.entries.get(key);
    if (have && have.expires_ms > now_ms) {
      this.hitCount += 1;
      return have.value;
    }
    this.missCount += 1;
    const value = compute();
    const ttl = closed ? this.options.closed_ttl_ms : this.options.open_ttl_ms;
    this.entries.delete(key);
    const entry: Entry = { value, expires_ms: now_ms + ttl, bytes: 0 };
    this.entries.set(key, entry);
    value.then(
      (body) => {
        entry.bytes = body.byteLength;
        this.evict();
      },
      // A failure is not kept: the next request tries again.
      () => {
        if (this.entries.get(key)?.value === value) this.entries.delete(key);
      },
    );
    this.evict();
    return value;
  }

  /** Oldest first, down to max_entries and max_bytes; the newest entry always stays. */
  private evict(): void {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    while (
      this.entries.size > 1 &&
      (this.entries.size > this.options.max_entries || total > this.options.max_bytes)
    ) {
      const [oldest, e] = this.entries.entries().next().value as [string, Entry];
      total -= e.bytes;
      this.entries.delete(oldest);
    }
  }

  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.entries.size, hits: this.hitCount, misses: this.missCount };
  }
}
