import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { Ingest } from "../../../collector/ingest.js";
import { reportModelFromStore } from "../../../collector/report/from-store.js";
import { buildReportFromResults, type ReportModel } from "../../../collector/report/model.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";
import { allStreams, HOUR_RANGE, interval, MIN, monthBoundary, T0 } from "../../helpers/verdict-streams.js";

/**
 * The store's SQL (window table at ingest, aggregates per bucket) against windows.ts's twin on the
 * same crafted streams, on PostgreSQL and PGlite: the reports must be the same to the last count.
 */

const LATER = Date.UTC(2027, 0, 1);

/**
 * Sums of the same values in another order differ in the last bits: compare to 9 decimals. Evidence
 * (needs payloads: the twin only) and delivery gaps (need site_status: the store only) are left out;
 * each path's own tests cover them (report-gaps.test.ts, evidence tests).
 */
function rounded(model: ReportModel): unknown {
  // Evidence, gaps and configuration come from store tables the results-based twin has no input for.
  const { evidence: _evidence, gaps: _gaps, configuration: _configuration, ...verdicts } = model;
  return JSON.parse(JSON.stringify(verdicts), (_k, v) =>
    typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1e9) / 1e9 : v,
  );
}

describe.each(backends)("verdicts from the store on $name", (backend) => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
    await store.migrate();
    // In two batches, the second holding a redelivery of the first's first result.
    const all = [...allStreams, ...monthBoundary];
    const half = Math.floor(all.length / 2);
    await store.insertResults(all.slice(0, half));
    const second = await store.insertResults([...all.slice(half), all[0]!]);
    expect(second.duplicates).toBe(1);
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  it("gives the same hourly report as the TypeScript twin, redelivery not counted", async () => {
    const opts = {
      ...HOUR_RANGE,
      period: "hour" as const,
      lang: "en" as const,
      generated_at_ms: LATER,
      timezone: "UTC",
    };
    const fromStore = await reportModelFromStore(store, { ...opts, format: "json", sites: [] });
    const twin = buildReportFromResults(allStreams, opts);
    expect(rounded(fromStore)).toEqual(rounded(twin));
    const route = fromStore.operators[0]?.sections[0]?.pairs.find((p) => p.test_id === "route-lost");
    expect(route?.overall.intervals).toBe(60);
    expect(route?.overall.availability).toMatchObject({ available: 7, unavailable: 5, unmeasured: 0 });
    const faults = fromStore.operators[0]?.sections[0]?.pairs.find(
      (p) => p.test_id === "refused-port",
    )?.faults;
    expect(faults?.map((f) => [f.code, f.count])).toEqual([["PORT_UNREACHABLE", 12]]);
  });

  it("reads the window table where hours do not nest (Asia/Kolkata, +05:30) to the twin's figures", async () => {
    // Bucket edges at :30 past a UTC hour: the hourly rollup cannot serve them, the windows must.
    const opts = {
      from_ms: HOUR_RANGE.from_ms - 30 * MIN,
      to_ms: HOUR_RANGE.to_ms + 30 * MIN,
      period: "hour" as const,
      lang: "en" as const,
      generated_at_ms: LATER,
      timezone: "Asia/Kolkata",
    };
    const fromStore = await reportModelFromStore(store, { ...opts, format: "json", sites: [] });
    expect(rounded(fromStore)).toEqual(rounded(buildReportFromResults(allStreams, opts)));
    const route = fromStore.operators[0]?.sections[0]?.pairs.find((p) => p.test_id === "route-lost");
    // The same hour of data, inside two hours asked for: 12 windows expected but never measured.
    expect(route?.overall.availability).toMatchObject({ available: 7, unavailable: 5, unmeasured: 12 });
  });

  it("cuts months in Asia/Shanghai: 2026-10-31T16:30Z is November's", async () => {
    const opts = {
      from_ms: Date.parse("2026-10-01T00:00:00+08:00"),
      to_ms: Date.parse("2026-12-01T00:00:00+08:00"),
      period: "month" as const,
      lang: "zh" as const,
      generated_at_ms: LATER,
      timezone: "Asia/Shanghai",
    };
    const fromStore = await reportModelFromStore(store, { ...opts, format: "json", sites: [] });
    const rows = fromStore.operators.find((o) => o.operator === "op-m")?.sections[0]?.pairs[0]?.rows;
    expect(rows?.map((r) => [new Date(r.bucket_start_ms).toISOString(), r.intervals])).toEqual([
      ["2026-09-30T16:00:00.000Z", 1],
      ["2026-10-31T16:00:00.000Z", 1],
    ]);
    expect(rounded(fromStore)).toEqual(rounded(buildReportFromResults(monthBoundary, opts)));
  });

  it("refuses a second claim on a stored interval with the reason, and a topic naming another test", async () => {
    const ingest = new Ingest({ store, log: silentLogger(), batchSize: 10 });
    const first = interval({ test: "claim", start_ms: T0 + 7 * MIN, operator: "op-claim" });
    const second = interval({ test: "claim", start_ms: T0 + 7 * MIN, operator: "op-claim", rtt: 900 });
    const wrongTopic = resultTopic(first).replace(/\/claim$/, "/other-test");
    const outcomes = await Promise.all([
      ingest.accept(resultTopic(first), JSON.stringify(first)),
      ingest.accept(resultTopic(first), JSON.stringify(first)),
      ingest.accept(resultTopic(second), JSON.stringify(second)),
      ingest.accept(wrongTopic, JSON.stringify(first)),
      ingest.stop(),
    ]);
    expect(outcomes.slice(0, 4)).toEqual(["stored", "stored", "rejected", "rejected"]);
    expect(ingest.counters()).toMatchObject({ stored: 1, duplicates: 1, rejected: 2 });

    const now = Date.now();
    const rejects = await store.queryRejects({
      from: new Date(now - 3_600_000),
      to: new Date(now + 3_600_000),
    });
    const reasons = rejects.map((r) => r.reason);
    expect(reasons).toContain(
      `interval ${first.interval.start} of test claim at op-claim/bj-01 is already claimed by result ${first.id}; result ${second.id} not stored`,
    );
    expect(reasons).toContain("topic test other-test does not match test.id claim");

    const model = await reportModelFromStore(store, {
      ...HOUR_RANGE,
      period: "all",
      lang: "en",
      generated_at_ms: LATER,
      timezone: "UTC",
      format: "json",
      sites: [],
    });
    const claim = model.operators.find((o) => o.operator === "op-claim")?.sections[0]?.pairs[0]?.overall;
    // One interval, RTT 40: neither the redelivery nor the refused 900 ms claim counted.
    expect(claim).toMatchObject({ intervals: 1, mean_rtt_ms: 40 });
  });

  it("rebuilds the window table from stored results to the same report", async () => {
    const opts = {
      ...HOUR_RANGE,
      period: "all" as const,
      lang: "en" as const,
      generated_at_ms: LATER,
      timezone: "UTC",
      format: "json" as const,
      sites: [],
    };
    const before = await reportModelFromStore(store, opts);
    await store.rebuildWindows({ from: new Date(T0 - 86_400_000), to: new Date(T0 + 86_400_000) });
    expect(rounded(await reportModelFromStore(store, opts))).toEqual(rounded(before));
  });
});
