import { describe, expect, it } from "vitest";
import { QosProbeError } from "../../../../agent/errors.js";
import { buildAllowList, isAllowed } from "../../../../agent/probe/stamp/allowlist.js";
import { SourceRateLimiter } from "../../../../agent/probe/stamp/rate-limit.js";

describe("allow list", () => {
  const list = buildAllowList(["198.51.100.0/24", "192.0.2.7", "2001:db8::/32"]);

  it("matches addresses, CIDRs and IPv4-mapped IPv6 peers", () => {
    expect(isAllowed(list, "198.51.100.200")).toBe(true);
    expect(isAllowed(list, "198.51.101.1")).toBe(false);
    expect(isAllowed(list, "192.0.2.7")).toBe(true);
    expect(isAllowed(list, "192.0.2.8")).toBe(false);
    expect(isAllowed(list, "2001:db8:1::5")).toBe(true);
    expect(isAllowed(list, "2001:db9::5")).toBe(false);
    expect(isAllowed(list, "::ffff:198.51.100.9")).toBe(true);
    expect(isAllowed(list, "::ffff:203.0.113.9")).toBe(false);
  });

  it("refuses entries that are not addresses or CIDRs", () => {
    for (const bad of ["example.org", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/24/1", "192.0.2.0/x"]) {
      let code: string | undefined;
      try {
        buildAllowList([bad]);
      } catch (err) {
        code = err instanceof QosProbeError ? err.code : "other";
      }
      expect(code, bad).toBe("CONFIG_INVALID");
    }
  });
});

describe("per-source rate limit", () => {
  it("allows the burst, then the refill rate, per source", () => {
    // 10 pps, burst 2: two at t=0, the third refused; 100 ms refills exactly one token.
    const limiter = new SourceRateLimiter(10, 2);
    expect([limiter.allow("a", 0), limiter.allow("a", 0), limiter.allow("a", 0)]).toEqual([
      true,
      true,
      false,
    ]);
    expect(limiter.allow("b", 0)).toBe(true); // another source has its own bucket
    expect([limiter.allow("a", 100), limiter.allow("a", 100)]).toEqual([true, false]);
    // After 1 s idle the bucket is full again (capped at the burst of 2, not 10).
    expect([limiter.allow("a", 1100), limiter.allow("a", 1100), limiter.allow("a", 1100)]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("stays bounded in memory, forgetting idle sources first", () => {
    const limiter = new SourceRateLimiter(10, 1, 3);
    limiter.allow("a", 0);
    limiter.allow("b", 0);
    limiter.allow("c", 950);
    // At 1000 ms the table is full: a and b are idle and full again (1 s × 10 pps ≥ burst 1) and go;
    // c, drained at 950, has refilled only 50 ms × 10 pps = 0.5 token, so it stays.
    limiter.allow("d", 1000);
    expect(limiter.size).toBe(2); // c and d
    expect(limiter.allow("c", 1000)).toBe(false); // c kept its drained bucket: 0.5 tokens
  });
});
