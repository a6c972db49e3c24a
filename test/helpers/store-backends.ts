import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { silentLogger } from "../../agent/log.js";
import { openPgliteStore } from "../../collector/store/pglite.js";
import { openPostgresStore } from "../../collector/store/postgres.js";
import type { ResultStore } from "../../collector/store/store.js";

/** The machine's PostgreSQL (trust auth); each test run makes and drops its own database in it. */
export const PG_ADMIN_URL = process.env.QOSPROBE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A new empty database in the machine's PostgreSQL: its URL, and `drop` to remove it (forcing out clients). */
export async function freshPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const dbName = `qosprobe_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${dbName}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`) };
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

export interface TestBackend {
  name: "postgres" | "pglite";
  /** Make an empty store; `dispose` closes it and removes its database or directory. */
  open(): Promise<{ store: ResultStore; dispose: () => Promise<void>; dataDir?: string }>;
}

export const backends: TestBackend[] = [
  {
    name: "postgres",
    async open() {
      const db = await freshPgDatabase();
      const store = openPostgresStore({ url: db.url, log: silentLogger() });
      return {
        store,
        dispose: async () => {
          await store.close().catch(() => {});
          await db.drop();
        },
      };
    },
  },
  {
    name: "pglite",
    async open() {
      const dataDir = await mkdtemp(join(tmpdir(), "qosprobe-pglite-"));
      try {
        const store = await openPgliteStore({ dataDir });
        return {
          store,
          dataDir,
          dispose: async () => {
            await store.close().catch(() => {});
            await rm(dataDir, { recursive: true, force: true });
          },
        };
      } catch (err) {
        await rm(dataDir, { recursive: true, force: true });
        throw err;
      }
    },
  },
];
