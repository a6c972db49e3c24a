import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { QosProbeError } from "../../agent/errors.js";
import { PACKAGE_ROOT } from "../../agent/version.js";
import type { SqlDatabase } from "./sql.js";
import type { MigrationReport } from "./store.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE_NAME = /^(\d{3,})-([a-z0-9-]+)\.sql$/;

/**
 * The SQL files ship beside the sources (collector/store/migrations/) and are not copied into dist/,
 * so the compiled module looks three levels up (dist/collector/store/ → package root) as well, and
 * the bundle (dist/bundle/, where this code is one chunk among many) under the package root.
 */
const CANDIDATE_DIRS = [
  new URL("./migrations/", import.meta.url),
  new URL("../../../collector/store/migrations/", import.meta.url),
  new URL("collector/store/migrations/", pathToFileURL(`${PACKAGE_ROOT}/`)),
];

/** Migrations from `dir` (default: the shipped ones), ascending by version; gaps and repeats are errors. */
export async function loadMigrations(dir?: string): Promise<Migration[]> {
  const folder = dir ?? (await findShippedDir());
  const names = (await readdir(folder)).filter((n) => n.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    if (!match) {
      throw new QosProbeError("STORE", `migration file name ${name} is not NNN-name.sql`, {
        hint: "name migrations like 002-add-index.sql",
      });
    }
    const version = Number(match[1]);
    const expected = migrations.length + 1;
    if (version !== expected) {
      throw new QosProbeError("STORE", `migration ${name} has version ${version}, expected ${expected}`, {
        hint: "versions start at 001 and have no gaps or repeats",
      });
    }
    migrations.push({ version, name: match[2] ?? name, sql: await readFile(`${folder}/${name}`, "utf8") });
  }
  return migrations;
}

async function findShippedDir(): Promise<string> {
  for (const url of CANDIDATE_DIRS) {
    const path = fileURLToPath(url);
    try {
      await readdir(path);
      return path;
    } catch {
      // not in this layout; try the next
    }
  }
  throw new QosProbeError("STORE", "collector/store/migrations not found next to the program", {
    hint: "install the package with its collector/store/migrations/*.sql files",
  });
}

/** Any fixed number: collectors starting together on one PostgreSQL take turns migrating. */
const MIGRATION_LOCK_KEY = 7_240_601;

/**
 * Apply each missing migration once, each in its own transaction. The advisory lock makes concurrent
 * collectors wait for each other instead of racing on CREATE TABLE; the check for the version happens
 * under the lock, so a migration that another collector just applied is skipped.
 */
export async function runMigrations(
  db: SqlDatabase,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  const applied: number[] = [];
  const known = migrations.at(-1)?.version ?? 0;
  if (migrations.length === 0) return { applied, current: 0, known };
  for (const migration of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      await tx.exec(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await tx.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM schema_migrations WHERE version = $1",
        [migration.version],
      );
      if ((done[0]?.n ?? 0) > 0) return false;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (ran) applied.push(migration.version);
  }
  const current = await db.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  return { applied, current: current[0]?.v ?? 0, known };
}
