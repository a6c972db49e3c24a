import { randomBytes } from "node:crypto";
import pg from "pg";
import { silentLogger } from "../../agent/log.js";
import { openPostgresStore } from "../../collector/store/postgres.js";
import { ROLLUP_PASS_SQL, ROLLUP_QUEUE_COLUMNS } from "../../collector/store/windows-sql.js";
import { bulkResultsSelect } from "./bulk-results.js";
import { table } from "./common.js";

/**
 * `npm run bench:rollup-live`: the catch-up pass (ROLLUP_PASS_SQL) as a live collector runs it, one
 * pass per minute of results, so every window row is inserted once and then updated by the next four
 * passes (bench:report feeds a backlog instead: a pass of 20,000 results touches each window about
 * once). Compares the rollup tables' fillfactor, 100 (before migration 010) and 50 (migration 010),
 * alternated, each on a fresh database: time per result and the tables' size afterwards.
 *
 * For each run: a fresh database, migrated; the fillfactor set and the tables rewritten; then for each
 * of BENCH_MINUTES (120) minutes, the minute's BENCH_PAIRS (300) results (bench:report's bulk rows)
 * queued and one pass run, in its own transaction, as Ingest's timer would.
 * BENCH_ROUNDS (2) alternations; QOSPROBE_BENCH_PG_URL as bench:report.
 */
const PAIRS = Number(process.env.BENCH_PAIRS ?? 300);
const MINUTES = Number(process.env.BENCH_MINUTES ?? 120);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ADMIN_URL = process.env.QOSPROBE_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const MONTH_FROM = Date.parse("2026-11-01T00:00:00+08:00");
const SITES = 25;

async function once(
  fillfactor: number,
): Promise<{ usPerResult: number; windowsKiB: number; hoursKiB: number }> {
  const dbName = `qosprobe_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const store = openPostgresStore({ url: url.toString(), log: silentLogger() });
  const db = new pg.Client({ connectionString: url.toString() });
  try {
    await store.migrate();
    await db.connect();
    for (const t of ["windows", "window_hours"]) {
      await db.query(`ALTER TABLE ${t} SET (fillfactor = ${fillfactor})`);
      await db.query(`VACUUM FULL ${t}`);
    }
    const cols = ROLLUP_QUEUE_COLUMNS.join(", ");
    const source = bulkResultsSelect(PAIRS, SITES, MONTH_FROM);
    let passMs = 0;
    let rolled = 0;
    for (let m = 0; m < MINUTES; m += 1) {
      await db.query("BEGIN");
      await db.query(`INSERT INTO rollup_queue (${cols}) SELECT ${cols} FROM (${source}) b`, [m, m + 1]);
      const t0 = performance.now();
      const r = await db.query<{ n: number }>(ROLLUP_PASS_SQL, [1_000_000]);
      passMs += performance.now() - t0;
      rolled += Number(r.rows[0]?.n);
      await db.query("COMMIT");
    }
    if (rolled !== PAIRS * MINUTES) throw new Error(`rolled up ${rolled}, expected ${PAIRS * MINUTES}`);
    const size = async (t: string) =>
      Number((await db.query<{ b: string }>(`SELECT pg_relation_size('${t}') AS b`)).rows[0]?.b) / 1024;
    return {
      usPerResult: (passMs * 1000) / rolled,
      windowsKiB: await size("windows"),
      hoursKiB: await size("window_hours"),
    };
  } finally {
    await db.end().catch(() => {});
    await store.close().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench:rollup-live: ${PAIRS} pairs × ${MINUTES} minutes, one catch-up pass per minute (${PAIRS} results each)`,
  );
  const rows: string[][] = [["rollup tables' fillfactor", "pass time per result", "windows", "window_hours"]];
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const ff of [100, 50]) {
      const r = await once(ff);
      rows.push([
        ff === 50 ? "50 (migration 010)" : "100 (before)",
        `${r.usPerResult.toFixed(1)} µs`,
        `${r.windowsKiB.toFixed(0)} KiB`,
        `${r.hoursKiB.toFixed(0)} KiB`,
      ]);
    }
  }
  console.log(table(rows));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
