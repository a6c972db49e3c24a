import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import type { ResultStore } from "../../../collector/store/store.js";
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
