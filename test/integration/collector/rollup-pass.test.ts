import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { Ingest } from "../../../collector/ingest.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import type { SqlDatabase } from "../../../collector/store/sql.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends, freshPgDatabase, PG_ADMIN_URL } from "../../helpers/store-backends.js";

// The catch-up pass of migration 007 (sql-store.ts rollup()): results queued at ingest reach the
// window, hour and fault tables exactly once, whatever the order of commits, passes and failures.

const MIN = 60_000;
const T0 = Date.parse("2026-05-04T10:00:00.000Z");
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();

/** The store's own connection, for what a test must see or break underneath it (queue, triggers). */
function dbOf(store: ResultStore): SqlDatabase {
  return (store as unknown as { db: SqlDatabase }).db;
}

async function queued(store: ResultStore): Promise<number> {
  const rows = await dbOf(store).query<{ n: number }>("SELECT count(*)::int AS n FROM rollup_queue");
  return Number(rows[0]?.n);
}

/** Per test id: [results, rtt_n, rtt_sum, sent, lost, loss_n, measured, available] per bucket. */
async function sums(
  store: ResultStore,
  bucketStarts: number[],
  to: number,
): Promise<Record<string, number[][]>> {
  const rows = await store.queryAggregates({
    bucket_starts: bucketStarts,
    from_ms: bucketStarts[0] ?? 0,
    to_ms: to,
  });
  const out: Record<string, number[][]> = {};
  for (const r of [...rows].sort((a, b) => a.bucket - b.bucket)) {
    const list = out[r.test_id] ?? [];
    out[r.test_id] = list;
    list.push([r.results, r.rtt_n, r.rtt_sum, r.sent, r.lost, r.loss_n, r.measured, r.available]);
  }
  return out;
}

describe.each(backends)("rollup pass on $name", (backend) => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
    await store.migrate();
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  it("window and hour sums equal hand-computed values after several passes, redeliveries included", async () => {
    // Minutes 0–4 fill the 10:00 window, minute 5 starts the 10:05 one.
    const received = [594, 590, 600, 580, 570, 597];
    const r = received.map((rec, i) =>
      makeResult({
        testId: "passes",
        seq: i + 1,
        intervalStart: at(i),
        received: rec,
        rttMeanMs: 10 * (i + 1),
      }),
    );
    const [r0, r1, r2, r3, r4, r5] = r as [
      ResultMessage,
      ResultMessage,
      ResultMessage,
      ResultMessage,
      ResultMessage,
      ResultMessage,
    ];
    await store.insertResults([r0, r1]);
    expect(await store.rollup?.()).toBe(2);
    await store.insertResults([r2, r1]); // r1 redelivered: a duplicate never reaches the queue
    expect(await queued(store)).toBe(1);
    expect(await store.rollup?.()).toBe(1);
    await store.insertResults([r3, r4]);
    await store.insertResults([r5, r0]);
    expect(await store.rollup?.()).toBe(3);
    expect(await store.rollup?.()).toBe(0);

    // 10:00 window: RTT 10+20+30+40+50, 3,000 sent, 6+10+0+20+30 lost, 5 min probed (measured), 66/3000
    // lost (available). 10:05: one minute of 60 s, RTT 60, 3 lost: under the 150 s to be measured.
    const windows = await sums(store, [T0, T0 + 5 * MIN], T0 + 10 * MIN);
    expect(windows.passes).toEqual([
      [5, 5, 150, 3000, 66, 5, 1, 1],
      [1, 1, 60, 600, 3, 1, 0, 0],
    ]);
    // A whole UTC hour reads window_hours.
    const hours = await sums(store, [T0], T0 + 60 * MIN);
    expect(hours.passes).toEqual([[6, 6, 210, 3600, 69, 6, 1, 1]]);
    const loss = (await store.queryAggregates({ bucket_starts: [T0], from_ms: T0, to_ms: T0 + 5 * MIN }))[0];
    expect(loss?.loss_sum).toBeCloseTo((6 + 10 + 0 + 20 + 30) / 600, 12);

    // A rebuild from the stored results gives the same tables as the passes did.
    await store.rebuildWindows({ from: new Date(T0), to: new Date(T0 + 60 * MIN) });
    expect(await sums(store, [T0, T0 + 5 * MIN], T0 + 10 * MIN)).toEqual(windows);
    expect(await sums(store, [T0], T0 + 60 * MIN)).toEqual(hours);
  });

  it("the rollup tables keep half of each page for the pass's updates (migration 010: heap-only updates)", async () => {
    const rows = await dbOf(store).query<{ relname: string; reloptions: string[] | null }>(
      "SELECT relname, reloptions FROM pg_class WHERE relname IN ('windows', 'window_hours') ORDER BY relname",
    );
    expect(rows.map((r) => [r.relname, r.reloptions])).toEqual([
      ["window_hours", ["fillfactor=50"]],
      ["windows", ["fillfactor=50"]],
    ]);
  });

  it("a report read right after ingest sees every result and fault, without waiting for the timer", async () => {
    const ingest = new Ingest({
      store,
      log: silentLogger(),
      groupCommit: true,
      // The timer never fires during the test: only the read's own pass can roll these up.
      rollupIntervalMs: 3_600_000,
    });
    ingest.start();
    try {
      const msgs = [0, 1, 2].map((i) =>
        makeResult({ testId: "fresh", seq: i + 1, site: "fr-01", intervalStart: at(60 + i), rttMeanMs: 5 }),
      );
      const outcomes = await Promise.all(msgs.map((m) => ingest.accept(resultTopic(m), JSON.stringify(m))));
      expect(outcomes).toEqual(["stored", "stored", "stored"]);
      expect(await queued(store)).toBe(3);
      const err = makeResult({ testId: "fresh", seq: 4, site: "fr-01", intervalStart: at(63) });
      await store.insertResults([
        {
          ...err,
          status: "error",
          error: { code: "ENETUNREACH", message: "no route" },
          packets: { ...err.packets, sent: 0, received: 0, lost: 0 },
          rtt_ms: null,
        } as unknown as ResultMessage,
      ]);
      const hour = await sums(store, [T0 + 60 * MIN], T0 + 120 * MIN);
      expect(hour.fresh?.map((row) => row.slice(0, 3))).toEqual([[4, 3, 15]]);
      const faults = await store.queryFaults({ from: new Date(T0 + 60 * MIN), to: new Date(T0 + 120 * MIN) });
      expect(faults.map((f) => [f.test_id, f.status, f.code, f.count])).toEqual([
        ["fresh", "error", "ENETUNREACH", 1],
      ]);
      expect(await queued(store)).toBe(0);
    } finally {
      await ingest.stop();
    }
  });

  it("a pass that fails part-way changes nothing; the next pass counts every result once", async () => {
    const db = dbOf(store);
    const msgs = [0, 1, 2].map((i) =>
      makeResult({ testId: "crash", seq: i + 1, site: "cr-01", intervalStart: at(120 + i), rttMeanMs: 7 }),
    );
    await store.insertResults(msgs);
    // The hour upsert fails after the window upsert and the queue delete ran in the same statement.
    await db.exec(`
      CREATE FUNCTION qosprobe_test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'boom'; END $$;
      CREATE TRIGGER boom BEFORE INSERT ON window_hours FOR EACH ROW EXECUTE FUNCTION qosprobe_test_boom();`);
    try {
      await expect(store.rollup?.()).rejects.toMatchObject({
        code: "STORE",
        message: expect.stringContaining("boom"),
      });
      expect(await queued(store)).toBe(3);
      const w = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM windows WHERE test_id = 'crash'",
      );
      expect(Number(w[0]?.n)).toBe(0);
    } finally {
      await db.exec("DROP TRIGGER boom ON window_hours; DROP FUNCTION qosprobe_test_boom();");
    }
    expect(await store.rollup?.()).toBe(3);
    const hour = await sums(store, [T0 + 120 * MIN], T0 + 180 * MIN);
    expect(hour.crash?.map((row) => row.slice(0, 3))).toEqual([[3, 3, 21]]);
  });
});

describe("rollup pass on postgres with concurrent batches", () => {
  let db: Awaited<ReturnType<typeof freshPgDatabase>>;
  let url: URL;
  let store: ResultStore;

  beforeAll(async () => {
    db = await freshPgDatabase();
    url = new URL(db.url);
    store = openPostgresStore({ url: db.url, log: silentLogger() });
    await store.migrate();
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it("a batch that commits after a later one, across passes, is rolled up exactly once", async () => {
    const a1 = makeResult({ testId: "ooo-a", site: "a-01", seq: 1, intervalStart: at(0), rttMeanMs: 11 });
    // a2 is made (uuidv7: lower id) and sent before b1, and commits after it.
    const a2 = makeResult({ testId: "ooo-a", site: "a-01", seq: 2, intervalStart: at(1), rttMeanMs: 13 });
    const b1 = makeResult({ testId: "ooo-b", site: "b-01", seq: 1, intervalStart: at(1), rttMeanMs: 17 });
    await store.insertResults([a1]);
    expect(await store.rollup?.()).toBe(1);

    // Hold a-01's evidence chain row: a2's ingest statement inserts its result and queue row, then
    // waits on that row lock, its transaction open.
    const holder = new pg.Client({ connectionString: url.toString() });
    await holder.connect();
    let a2Done: Promise<unknown> | undefined;
    try {
      await holder.query("BEGIN");
      await holder.query(
        "SELECT 1 FROM evidence_chains WHERE operator = 'op-a' AND site = 'a-01' FOR UPDATE",
      );
      a2Done = store.insertResults([a2]);
      // Bounded wait until a2's statement is blocked on the lock.
      for (let i = 0; ; i++) {
        const { rows } = await holder.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'qos-probe collector' AND wait_event_type = 'Lock'",
        );
        if (Number(rows[0]?.n) === 1) break;
        if (i > 500) throw new Error("a2's insert never waited on the chain row");
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await store.insertResults([b1])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
      // The pass sees b1 and not a2 (not committed): a2 stays queued, not skipped.
      expect(await store.rollup?.()).toBe(1);
      const mid = await sums(store, [T0], T0 + 60 * MIN);
      expect(mid["ooo-a"]?.map((row) => row.slice(0, 3))).toEqual([[1, 1, 11]]);
      expect(mid["ooo-b"]?.map((row) => row.slice(0, 3))).toEqual([[1, 1, 17]]);
      await holder.query("COMMIT");
      expect(await a2Done).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    } finally {
      await holder.query("ROLLBACK").catch(() => {});
      await holder.end();
      await a2Done?.catch(() => {});
    }
    expect(await store.rollup?.()).toBe(1);
    expect(await store.rollup?.()).toBe(0);
    const end = await sums(store, [T0], T0 + 60 * MIN);
    expect(end["ooo-a"]?.map((row) => row.slice(0, 3))).toEqual([[2, 2, 24]]);
    expect(end["ooo-b"]?.map((row) => row.slice(0, 3))).toEqual([[1, 1, 17]]);
  });

  it("a read-only role: reads once nothing is queued, refuses (naming the count) while results are", async () => {
    const role = `qp_ro_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    const roUrl = new URL(url.toString());
    roUrl.username = role;
    const reader = openPostgresStore({ url: roUrl.toString(), log: silentLogger() });
    try {
      const r = makeResult({ testId: "ro", site: "ro-01", seq: 1, intervalStart: at(30), rttMeanMs: 5 });
      await store.insertResults([r]); // queued, not rolled up: no pass ran
      const q = { bucket_starts: [T0], from_ms: T0, to_ms: T0 + 60 * MIN };
      await expect(reader.queryAggregates(q)).rejects.toThrow(
        /1 stored results are not in the rollups yet, and this connection may not add them/,
      );
      await store.rollup?.(); // the collector's own pass
      const rows = await reader.queryAggregates(q);
      expect(rows.filter((row) => row.test_id === "ro").map((row) => [row.results, row.rtt_sum])).toEqual([
        [1, 5],
      ]);
    } finally {
      await reader.close();
      await admin.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.end();
      const cluster = new pg.Client({ connectionString: PG_ADMIN_URL });
      await cluster.connect();
      await cluster.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await cluster.end();
    }
  });
});
