import pg from "pg";
import { from as copyFromStdin } from "pg-copy-streams";
import type { Logger } from "../../agent/log.js";
import type { SqlClient, SqlDatabase } from "./sql.js";
import { SqlResultStore } from "./sql-store.js";
import type { ResultStore } from "./store.js";

export interface PostgresStoreOptions {
  /** postgres://user@host:port/db (the password comes from the config's secret reference, not the YAML). */
  url: string;
  /** Pool size; a collector writes one batch at a time, so a few connections are plenty. */
  maxConnections?: number;
  log: Logger;
  /** Where the NNN-name.sql migrations are; default: the ones shipped with the program. */
  migrationsDir?: string;
}

/** A ResultStore on a PostgreSQL server through a `pg` pool. Connects lazily on the first query. */
export function openPostgresStore(options: PostgresStoreOptions): ResultStore {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 4,
    application_name: "qos-probe collector",
  });
  // Reports get connections of their own: a month's aggregate query takes seconds, and ingest's pool
  // must never wait behind it (nor a report behind a burst of batches).
  const reportPool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    application_name: "qos-probe collector report",
    // A month's aggregate groups ~200,000 hour rows by a 6-column text key: with the default 4 MB of
    // work_mem PostgreSQL sorts on disk (bench:report: 1.2 s); in memory it hashes them (0.6 s).
    options: "-c work_mem=64MB",
  });
  // An idle client losing its server emits on the pool; unhandled, that would end the process.
  for (const p of [pool, reportPool]) {
    p.on("error", (err) => options.log.warn({ err: err.message }, "postgres: idle connection lost"));
  }
  return new SqlResultStore(poolDatabase(pool), {
    migrationsDir: options.migrationsDir,
    reportDb: poolDatabase(reportPool),
    onClose: () => reportPool.end(),
  });
}

/** COPY … FROM STDIN on one connection (pg-copy-streams), resolved when the server has taken it all. */
function copyOn(
  client: pg.PoolClient,
  table: string,
  columns: readonly string[],
  data: Uint8Array,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFromStdin(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
    stream.on("error", reject);
    stream.on("finish", () => resolve());
    stream.end(data);
  });
}

function clientOf(q: pg.Pool | pg.PoolClient): SqlClient {
  return {
    async query<T>(text: string, params?: readonly unknown[], options?: { name?: string }): Promise<T[]> {
      const values = params as unknown[] | undefined;
      const result = options?.name
        ? await q.query({ name: options.name, text, values })
        : await q.query(text, values);
      return result.rows as T[];
    },
    async exec(script: string): Promise<void> {
      // Without parameters pg uses the simple query protocol, which accepts several statements.
      await q.query(script);
    },
    async copyFrom(table: string, columns: readonly string[], data: Uint8Array): Promise<void> {
      if (!(q instanceof pg.Pool)) return copyOn(q, table, columns, data);
      const client = await q.connect();
      try {
        await copyOn(client, table, columns, data);
      } finally {
        client.release();
      }
    },
  };
}

function poolDatabase(pool: pg.Pool): SqlDatabase {
  return {
    ...clientOf(pool),
    async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const value = await fn(clientOf(client));
        await client.query("COMMIT");
        return value;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackErr) {
          // The connection itself is gone: do not hand it back to the pool.
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
