import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import {
  CONFIG_STATUS_SCHEMA_ID,
  type ConfigStatusReport,
} from "../../../collector/control-plane/config-status.js";
import { configurationSection } from "../../../collector/report/config-html.js";
import { DEFAULT_PGLITE_DIR } from "../../../collector/report-role.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import { runCli } from "../../helpers/cli-run.js";
import { PG_ADMIN_URL } from "../../helpers/store-backends.js";

/** The migration this version needs: the newest in collector/store/migrations. */
const LATEST = (await loadMigrations()).at(-1)?.version;

/** `config status` (and the other read commands) read the collector's store and never create or migrate one. */
describe("qos-probe config status reads, never writes", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function admin(sql: string): Promise<void> {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  }

  /** An empty database of our own, dropped after the test; returns its URL. */
  async function emptyDatabase(): Promise<string> {
    const name = `qosprobe_fixstatus_${randomBytes(6).toString("hex")}`;
    await admin(`CREATE DATABASE ${name}`);
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return url.toString();
  }

  async function tables(url: string): Promise<string[]> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      return r.rows.map((row) => row.t);
    } finally {
      await c.end();
    }
  }

  async function migrated(url: string): Promise<void> {
    const store = openPostgresStore({ url, log: silentLogger() });
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
  }

  it("on a --data-dir with no database: exit 2 naming it, and creates nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-fixstatus-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const missing = join(dir, "nostore");
    const r = await runCli(["config", "status", "--data-dir", missing]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`there is no PGlite database in ${missing} (--data-dir)`);
    expect(existsSync(missing)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it("with no options: exit 2 naming the default directory, which it does not create", async () => {
    expect(existsSync(DEFAULT_PGLITE_DIR), `this test needs no store at ${DEFAULT_PGLITE_DIR}`).toBe(false);
    const r = await runCli(["config", "status"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`there is no PGlite database in ${DEFAULT_PGLITE_DIR}`);
    expect(existsSync("/var/lib/qos-probe-collector")).toBe(false);
  });

  it("on an empty PostgreSQL database: report, gaps and config status exit 2 and create no table", async () => {
    const url = await emptyDatabase();
    for (const args of [
      ["config", "status", "--database-url", url],
      ["gaps", "--database-url", url],
      ["report", "--database-url", url, "--from", "2026-11-01", "--to", "2026-11-02", "--format", "csv"],
    ]) {
      const r = await runCli(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(
        `this database has no qos-probe store (this version needs migration ${LATEST})`,
      );
      expect(r.stderr).toContain(
        "point at the collector's database, or start the collector once to migrate it",
      );
      expect(r.stderr).not.toContain("migrate failed");
    }
    expect(await tables(url)).toEqual([]);
  });

  it("on a PostgreSQL store behind this version: exit 2 naming both migrations, and leaves it behind", async () => {
    const url = await emptyDatabase();
    await migrated(url);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("DELETE FROM schema_migrations WHERE version > 2");
    await c.end();
    const r = await runCli(["config", "status", "--database-url", url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `this database's qos-probe store is at migration 2, this version needs ${LATEST}`,
    );
    const after = new pg.Client({ connectionString: url });
    await after.connect();
    const v = await after.query<{ v: number }>("SELECT max(version)::int AS v FROM schema_migrations");
    await after.end();
    expect(v.rows[0]?.v).toBe(2);
  });

  it("on a PostgreSQL store ahead of this version (a newer collector migrated it): the export and config status exit 2 naming both migrations", async () => {
    const url = await emptyDatabase();
    await migrated(url);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from-a-newer-version')", [
      (LATEST ?? 0) + 1,
    ]);
    await c.end();
    const ahead = `this database's qos-probe store is at migration ${(LATEST ?? 0) + 1}, newer than this version (${LATEST})`;
    const exported = await runCli([
      "report",
      "--database-url",
      url,
      "--from",
      "2026-11-01",
      "--to",
      "2026-11-02",
      "--format",
      "results",
    ]);
    expect(exported.code).toBe(2);
    expect(exported.stdout).toBe("");
    expect(exported.stderr).toContain(ahead);
    const status = await runCli(["config", "status", "--database-url", url]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(ahead);
  });

  it("--site that is not known: exit 2 saying none is known; a migrated store otherwise reads", async () => {
    const url = await emptyDatabase();
    await migrated(url);
    const all = await runCli(["config", "status", "--database-url", url]);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain("no sites yet");
    const r = await runCli(["config", "status", "--database-url", url, "--site", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('config status: no site "nope" in this store (no site is known yet)');
  });

  it("--stale-after takes unit suffixes: 1h and 24h", async () => {
    const url = await emptyDatabase();
    await migrated(url);
    for (const t of ["1h", "24h", "1d"]) {
      const r = await runCli(["config", "status", "--database-url", url, "--stale-after", t]);
      expect(r.code, `${t}: ${r.stderr}`).toBe(0);
    }
  });

  it("the report's configuration section with no expected version says only that", () => {
    const none: ConfigStatusReport = {
      schema: CONFIG_STATUS_SCHEMA_ID,
      generated_at: "2026-11-30T00:00:00Z",
      expected_version: null,
      expected_from: "none",
      // One site on its bootstrap file with a fresh heartbeat: ok, yet no version to be "on".
      sites: [
        {
          operator: "cmcc",
          province: "bj",
          site: "bj-01",
          state: "no-expected",
          ok: true,
          running_version: null,
          running_hash: null,
          accepted_at: null,
          config_label: "local",
          heartbeat: {
            last: "2026-11-29T23:59:30Z",
            age_s: 30,
            stale_after_s: 90,
            stale: false,
            state: "online",
          },
          device_key_id: null,
          rejection: null,
          last_ack: null,
          acks: { accepted: 0, rejected: 0 },
          detail: "bootstrap file, heartbeat fresh",
        },
      ],
      not_ok: 0,
    };
    const en = configurationSection(none, "en", "UTC");
    expect(en).toContain("No signed configuration has been acked or is live at any site.");
    expect(en).not.toContain("Every site runs the expected version");
    const zh = configurationSection(none, "zh", "UTC");
    expect(zh).toContain("尚无站点确认或运行签名配置。");
    expect(zh).not.toContain("所有站点均运行应有版本");
  });
});
