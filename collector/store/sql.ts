/**
 * The few things the store needs from a SQL connection, so one implementation (sql-store.ts) serves both
 * `pg` and PGlite. Both speak the same PostgreSQL dialect; only connection handling differs.
 */
export interface SqlClient {
  /**
   * `options.name` names a prepared statement: PostgreSQL parses and plans it once per connection
   * (the ingest INSERT is a large statement; planning it was ~10 ms a batch). PGlite ignores it.
   */
  query<T>(text: string, params?: readonly unknown[], options?: { name?: string }): Promise<T[]>;
  /** Run a script of several statements without parameters. */
  exec(script: string): Promise<void>;
  /**
   * COPY `table` (`columns`) FROM STDIN with `data` in COPY's text format (result-rows.ts CopyWriter):
   * the cheapest way PostgreSQL takes many rows. Fails as a whole on any bad row (e.g. a unique key:
   * error code 23505); inside a transaction, the transaction is then aborted.
   */
  copyFrom(table: string, columns: readonly string[], data: Uint8Array): Promise<void>;
}

export interface SqlDatabase extends SqlClient {
  /** Run `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
