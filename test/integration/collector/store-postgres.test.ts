import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult } from "../../helpers/result-factory.js";
import { PG_ADMIN_URL } from "../../helpers/store-backends.js";

describe("PostgreSQL store shared by several collectors", () => {
  const dbName = `qosprobe_test_${randomBytes(6).toString("hex")}`;
  const stores: ResultStore[] = [];

  async function admin(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
  });

  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => {});
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it("migrates once when three collectors start together", async () => {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    for (let i = 0; i < 3; i += 1)
      stores.push(openPostgresStore({ url: url.toString(), log: silentLogger() }));
    const reports = await Promise.all(stores.map((s) => s.migrate()));
    // The advisory lock serialises them: each version is applied by exactly one, the others find it done.
    const versions = (await loadMigrations()).map((m) => m.version);
    const latest = versions.at(-1);
    expect(reports.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual(versions);
    expect(reports.map((r) => r.current)).toEqual([latest, latest, latest]);
  });

  it("two collectors storing the first results of a new month at once both succeed (migration 8)", async () => {
    // Migration 3's partition function raced: both callers saw no partition, the second CREATE failed
    // with 42P07 and that collector's whole batch with it (once per new month, 6 of 6 here before).
    const [a, b] = stores as [ResultStore, ResultStore];
    for (let m = 0; m < 6; m += 1) {
      const intervalStart = new Date(Date.UTC(2031, m, 1, 0, 0)).toISOString();
      const one = (site: string) => [makeResult({ site, testId: "part", seq: m + 1, intervalStart })];
      const settled = await Promise.allSettled([a.insertResults(one("pa-1")), b.insertResults(one("pb-1"))]);
      expect(settled.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual(["ok", "ok"]);
    }
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT count(*)::int AS n, count(DISTINCT tableoid)::int AS parts FROM results WHERE test_id = 'part'",
      );
      expect(rows[0]).toEqual({ n: 12, parts: 6 });
    } finally {
      await client.end();
    }
  });

  it("reports a server it cannot reach as a STORE error naming the operation", async () => {
    const unreachable = openPostgresStore({
      url: "postgres://postgres@127.0.0.1:1/none",
      log: silentLogger(),
    });
    stores.push(unreachable);
    await expect(unreachable.listSites()).rejects.toMatchObject({
      code: "STORE",
      message: expect.stringMatching(/^store: list sites failed: connect ECONNREFUSED 127\.0\.0\.1:1$/),
    });
  });
});
