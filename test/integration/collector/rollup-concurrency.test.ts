import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult } from "../../helpers/result-factory.js";
import { freshPgDatabase } from "../../helpers/store-backends.js";

// Two collectors on one PostgreSQL (migration 007): batches, catch-up passes from both and rebuilds of
// the same hours run at once; every stored result is in the windows and hours exactly once.

const MIN = 60_000;
const T0 = Date.parse("2026-06-01T09:58:00.000Z"); // windows in two UTC hours

describe("rollup pass with two collectors, passes and rebuilds at once (postgres)", () => {
  let db: Awaited<ReturnType<typeof freshPgDatabase>>;
  let a: ResultStore;
  let b: ResultStore;

  beforeAll(async () => {
    db = await freshPgDatabase();
    a = openPostgresStore({ url: db.url, log: silentLogger() });
    b = openPostgresStore({ url: db.url, log: silentLogger() });
    await Promise.all([a.migrate(), b.migrate()]);
  }, 120_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it("sums equal the stored results: 2 stores × 20 batches, redeliveries, passes and rebuilds interleaved", async () => {
    // 8 sites × 10 minutes per store; each store sends its own sites, and every batch is sent twice.
    const batches = (store: string) =>
      Array.from({ length: 20 }, (_, k) =>
        Array.from({ length: 4 }, (_, s) =>
          makeResult({
            site: `${store}-${s + 4 * (k % 2)}`,
            testId: "cc",
            seq: Math.floor(k / 2) + 1,
            intervalStart: new Date(T0 + Math.floor(k / 2) * MIN).toISOString(),
            rttMeanMs: 10,
          }),
        ),
      );
    const work = (store: ResultStore, name: string) => async () => {
      for (const [k, batch] of batches(name).entries()) {
        await store.insertResults(batch);
        await store.insertResults(batch); // redelivery: queues nothing
        // A pass every 5th batch: rebuilds meet queued results.
        if (k % 5 === 4) await store.rollup?.();
      }
    };
    const rebuilds = async () => {
      for (let i = 0; i < 5; i++)
        await a.rebuildWindows({ from: new Date(T0 - 60 * MIN), to: new Date(T0 + 60 * MIN) });
    };
    // The month's partition first: two stores creating it at the same instant is another matter.
    await a.insertResults([
      makeResult({ site: "warm", testId: "cc", intervalStart: new Date(T0).toISOString() }),
    ]);
    await b.insertResults([
      makeResult({ site: "warm", testId: "cc", intervalStart: new Date(T0 - 10 * MIN).toISOString() }),
    ]);
    await Promise.all([work(a, "a")(), work(b, "b")(), rebuilds(), b.rollup?.()]);
    const rows = await b.queryAggregates({
      bucket_starts: [T0 - 58 * MIN],
      from_ms: T0 - 58 * MIN,
      to_ms: T0 + 62 * MIN,
    });
    const results = rows.reduce((n, r) => n + r.results, 0);
    const rtt = rows.reduce((n, r) => n + r.rtt_sum, 0);
    expect(results).toBe(162);
    expect(rtt).toBe(162 * 10 - 2 * 10 + 2 * 38.5);
    // The windows (5-minute buckets) agree with the hours.
    const fine = await b.queryAggregates({
      bucket_starts: Array.from({ length: 24 }, (_, i) => T0 - 58 * MIN + i * 5 * MIN),
      from_ms: T0 - 58 * MIN,
      to_ms: T0 + 62 * MIN,
    });
    expect(fine.reduce((n, r) => n + r.results, 0)).toBe(162);
  }, 120_000);
  it("a rebuild while results wait in the queue leaves them to the pass: each counted once", async () => {
    const T1 = T0 + 24 * 60 * MIN;
    const msgs = [0, 1, 2].map((i) =>
      makeResult({
        site: "rq",
        testId: "rq",
        seq: i + 1,
        intervalStart: new Date(T1 + i * MIN).toISOString(),
        rttMeanMs: 5,
      }),
    );
    await a.insertResults(msgs.slice(0, 1));
    expect(await a.rollup?.()).toBe(1);
    await a.insertResults(msgs.slice(1)); // queued, not rolled up yet
    await b.rebuildWindows({ from: new Date(T1), to: new Date(T1 + 60 * MIN) });
    const rows = await a.queryAggregates({
      bucket_starts: [T1 - 58 * MIN],
      from_ms: T1 - 58 * MIN,
      to_ms: T1 + 62 * MIN,
    });
    const rq = rows.filter((r) => r.test_id === "rq");
    expect(rq.map((r) => [r.results, r.rtt_n, r.rtt_sum])).toEqual([[3, 3, 15]]);
  }, 60_000);
});
