import { mkdir } from "node:fs/promises";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { acquireDirLock } from "../../agent/dir-lock.js";
import type { SqlClient, SqlDatabase } from "./sql.js";
import { SqlResultStore } from "./sql-store.js";
import type { ResultStore } from "./store.js";

export interface PgliteStoreOptions {
  /** Directory holding the database (created if missing). */
  dataDir: string;
  migrationsDir?: string;
}

/** The lock file's name inside the data directory. */
export const PGLITE_LOCK_FILE = "qos-probe.lock";

/**
 * A ResultStore on embedded PGlite persisted in a directory. PGlite itself lets two processes open one
 * directory and corrupt it, so a lock file holding our pid makes the directory single-writer; a second
 * open (in this or another process) is refused with QosProbeError STORE.
 */
export async function openPgliteStore(options: PgliteStoreOptions): Promise<ResultStore> {
  await mkdir(options.dataDir, { recursive: true });
  const lock = await acquireDirLock(options.dataDir, PGLITE_LOCK_FILE, {
    what: "PGlite data directory",
    hint: "run one collector per PGlite directory, or use PostgreSQL for several; delete the lock file only if no collector is running",
  });
  let db: PGlite;
  try {
    db = await PGlite.create(options.dataDir);
  } catch (err) {
    await lock.release();
    throw err;
  }
  return new SqlResultStore(pgliteDatabase(db), {
    migrationsDir: options.migrationsDir,
    onClose: () => lock.release(),
  });
}

function clientOf(q: PGlite | Transaction): SqlClient {
  return {
    async query<T>(text: string, params?: readonly unknown[]): Promise<T[]> {
      const result = await q.query<T>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(script: string): Promise<void> {
      await q.exec(script);
    },
    async copyFrom(table: string, columns: readonly string[], data: Uint8Array): Promise<void> {
      // PGlite has no STDIN: a COPY reads the query's blob as the file /dev/blob.
      await q.query(`COPY ${table} (${columns.join(", ")}) FROM '/dev/blob'`, [], { blob: new Blob([data]) });
    },
  };
}

function pgliteDatabase(db: PGlite): SqlDatabase {
  return {
    ...clientOf(db),
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => db.transaction((tx) => fn(clientOf(tx))),
    close: () => db.close(),
  };
}
