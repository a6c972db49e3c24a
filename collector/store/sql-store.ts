import { QosProbeError } from "../../agent/errors.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { type ControlPlaneStore, SqlControlPlaneStore } from "../control-plane/store.js";
import type { AgentEvidence } from "../evidence.js";
import type { AggregateRow } from "../rollup.js";
import { chainSums, queryEvidence, updateChains, upsertChains } from "./chains.js";
import { loadMigrations, runMigrations } from "./migrate.js";
import {
  type Column,
  isRecord,
  QUEUE_COPY_COLUMNS,
  RESULT_COLUMN_NAMES,
  RESULT_COLUMNS,
  RESULTS_COPY_COLUMNS,
  recordOf,
} from "./result-rows.js";
import { seqIslands, storedSeqs } from "./seqs.js";
import type { SqlDatabase } from "./sql.js";
import type {
  AgentKey,
  AggregateQuery,
  FaultRow,
  InsertReport,
  MigrationReport,
  RefusedClaim,
  RejectFilter,
  RejectInput,
  RejectRow,
  ResultFilter,
  ResultHead,
  ResultRecord,
  ResultRow,
  ResultStore,
  SeqIsland,
  SiteStatusInput,
  SiteStatusRow,
} from "./store.js";
import {
  AGGREGATE_HOURS_SQL,
  AGGREGATE_SQL,
  FAULTS_SQL,
  faultUpsert,
  HOURS_FROM_WINDOWS_SQL,
  ROLLUP_LOCK,
  ROLLUP_PASS_SQL,
  ROLLUP_QUEUE_COLUMNS,
  WINDOW_SOURCE_COLUMNS,
  WINDOW_SUM_COLUMNS,
  windowUpsert,
} from "./windows-sql.js";

const HOUR_MS = 3_600_000;

/** The payload as validate.ts read it (its TextDecoder also drops a byte order mark). */
const utf8 = new TextDecoder("utf-8");

/** Queued results one pass statement takes at most: bounds its memory and lock time after a backlog. */
const ROLLUP_PASS_LIMIT = 20_000;

/** A rejected payload is kept up to this many bytes: enough to see what went wrong, bounded on disk. */
export const REJECT_RAW_LIMIT_BYTES = 65_536;

/** SQL for a computed column of the INSERT path (result-rows.ts computes the same in JavaScript). */
const COMPUTED_SQL: Record<string, string> = {
  // The texts received, beside the array ($3, by position): stored verbatim (migration 011).
  payload_text: "($3::text[])[e.i]",
  flags: "ARRAY(SELECT jsonb_array_elements_text(e.p->'quality'->'flags'))",
  // The chain digests travel beside the payloads ($2, by position).
  chain_hash: "($2::text[])[e.i]",
  chain_prev: "CASE WHEN e.p ? 'prev' THEN coalesce(e.p->>'prev', '') END",
};

/** A column's value from the message `e.p`: `e.p->'a'->>'b'`, cast unless text. */
function columnSql(c: Column): string {
  if (!c.path) {
    const sql = COMPUTED_SQL[c.name];
    if (!sql) throw new Error(`results column ${c.name} has no SQL in COMPUTED_SQL`);
    return sql;
  }
  const keys = c.path;
  const head = keys
    .slice(0, -1)
    .map((k) => `->'${k}'`)
    .join("");
  const value = `e.p${head}->>'${keys.at(-1)}'`;
  if (c.type === "text") return value;
  // JSON has one number type: 0.0, 1.0 and 6e0 are integers to the schema (zod, Ajv) and COPY gets
  // JavaScript's "0", "1", "6", but a jsonb number keeps its text ("0.0"), which integer refuses.
  // Through numeric (exact) both take the same value.
  if (c.type === "integer" || c.type === "bigint") return `(${value})::numeric::${c.type}`;
  return `(${value})::${c.type}`;
}

const COLUMN_LIST = RESULT_COLUMN_NAMES.join(", ");
/**
 * The columns as rows of `results` hold them (the v1 columns, without the ones migration 3 added); the
 * payload is the text received (payload_text), or for rows stored before migration 011 the json
 * column (migration 009) or before that the jsonb.
 */
const V1_COLUMN_LIST = RESULT_COLUMN_NAMES.slice(0, RESULT_COLUMN_NAMES.indexOf("payload_text"))
  .concat("COALESCE(payload_text::json, payload_json, payload::json) AS payload")
  .join(", ");

/**
 * One statement per batch: the batch travels as ONE JSON array of the validated messages ($1) and each
 * column is read from its element in SQL (columnSql); the chain digests travel beside it ($2). Measured
 * for 2,000 results (bench:report's notes): binding 44 arrays made node-postgres escape every element
 * into an array literal (~0.5 s of JS), jsonb_to_recordset took ~0.3 s in the server, this ~0.05 s.
 * ON CONFLICT (no target) skips both a stored id
 * (redelivery) and a stored (operator, site, test, interval start) under another id (a second claim);
 * the rollup queue is fed from RETURNING, i.e. only from rows really inserted, in the same statement:
 * a redelivery or a refused claim never reaches any rollup.
 */
const INSERT_RESULTS_SQL = `
WITH ins AS (
  INSERT INTO results (${COLUMN_LIST})
  SELECT ${RESULT_COLUMNS.map(columnSql).join(", ")}
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(p, i)
  -- In array order, which insertResults sorts by claim key (byClaimKey): concurrent batches (ingest.ts
  -- writeConcurrency, or collectors) holding the same key wait for each other in the same order
  -- instead of deadlocking. (Sorting here in SQL cost ~5 µs of server CPU per result; in JS ~1.)
  ORDER BY e.i
  ON CONFLICT DO NOTHING
  RETURNING id, seq, chain_hash, ${WINDOW_SOURCE_COLUMNS.join(", ")}
),
-- The rollups (windows, hours, faults) are not touched here: the rows really inserted go to the queue
-- the catch-up pass sums (rollup(), migration 007), many batches per upsert row.
que AS (INSERT INTO rollup_queue (${ROLLUP_QUEUE_COLUMNS.join(", ")}) SELECT ${ROLLUP_QUEUE_COLUMNS.join(", ")} FROM ins)
SELECT id::text AS id FROM ins`;

/** Of the ids not inserted, which are stored (redeliveries); the rest were refused claims. */
const STORED_IDS_SQL = "SELECT id::text AS id FROM results WHERE id = ANY($1::uuid[])";

/** Who holds each refused claim, for the reject's reason. */
const CLAIM_HOLDERS_SQL = `
SELECT u.i, r.id::text AS holder
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(op, site, test, start, i)
JOIN results r ON r.operator = u.op AND r.agent_site = u.site AND r.test_id = u.test AND r.interval_start = u.start`;

const SELECT_RESULTS_SQL = `SELECT received_at, ${V1_COLUMN_LIST} FROM results`;

/** Results in claim-key order (operator, agent site, test id, interval start), compared as strings. */
function byClaimKey(a: ResultHead, b: ResultHead): number {
  return (
    cmp(a.agent.operator, b.agent.operator) ||
    cmp(a.agent.site, b.agent.site) ||
    cmp(a.test.id, b.test.id) ||
    cmp(a.interval.start, b.interval.start)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The store over any SqlDatabase; postgres.ts and pglite.ts only supply the connection. */
export class SqlResultStore implements ResultStore {
  private readonly db: SqlDatabase;
  private readonly migrationsDir: string | undefined;
  private readonly onClose: () => Promise<void>;
  /**
   * Where reports read, and run the catch-up pass they need first: a connection of their own on
   * PostgreSQL, so a long report (or its pass over a backlog) never holds up ingest.
   */
  private readonly reportDb: SqlDatabase;
  /** Whether the next batch tries COPY first (insertResults); false after a batch with duplicates. */
  private copyFirst = true;
  /** The last month found in `partitions`, as [start, end) ms: most batches need no more than this check. */
  private lastMonth: [number, number] = [0, 0];
  /** Months whose results partition is known to exist ("YYYY-MM-01T00:00:00Z"). */
  private readonly partitions = new Set<string>();
  readonly controlPlane: ControlPlaneStore;

  constructor(
    db: SqlDatabase,
    options: { migrationsDir?: string; onClose?: () => Promise<void>; reportDb?: SqlDatabase } = {},
  ) {
    this.db = db;
    this.reportDb = options.reportDb ?? db;
    this.migrationsDir = options.migrationsDir;
    this.onClose = options.onClose ?? (async () => {});
    this.controlPlane = new SqlControlPlaneStore(this.db, this.reportDb);
  }

  schemaVersion(): Promise<{ current: number; needed: number }> {
    return guard("read schema version", async () => {
      const needed = (await loadMigrations(this.migrationsDir)).at(-1)?.version ?? 0;
      const table = await this.reportDb.query<{ t: string | null }>(
        "SELECT to_regclass('schema_migrations')::text AS t",
      );
      if (!table[0]?.t) return { current: 0, needed };
      const rows = await this.reportDb.query<{ v: number | null }>(
        "SELECT max(version) AS v FROM schema_migrations",
      );
      return { current: rows[0]?.v ?? 0, needed };
    });
  }

  migrate(): Promise<MigrationReport> {
    return guard("migrate", async () => {
      const report = await runMigrations(this.db, await loadMigrations(this.migrationsDir));
      // Migration 3 made the window table empty: fill it from the results it moved, with the same SQL
      // ingest uses (one path for old and new data).
      if (report.applied.includes(3)) {
        await this.rebuildWindows({
          from: new Date(Date.UTC(1970, 0, 1)),
          to: new Date(Date.UTC(9999, 0, 1)),
        });
      }
      return report;
    });
  }

  /** Store results (records, or messages made into records): see insertBatch and insertIsolating. */
  insertResults(results: readonly (ResultMessage | ResultRecord)[]): Promise<InsertReport> {
    return guard("insert results", async () => {
      if (results.length === 0) return { inserted: 0, duplicates: 0, refused: [] };
      return this.insertIsolating(results.map((r) => (isRecord(r) ? r : recordOf(r))));
    });
  }

  /**
   * insertBatch, and when PostgreSQL refuses a value (SQLSTATE class 22, data exception: a count beyond
   * `integer`, a year it cannot hold), the batch in halves until each offending result stands alone:
   * those are refused with PostgreSQL's reason (the caller records them as rejects) and the rest is
   * stored. Otherwise one such result, valid by the wire schema, failed its whole batch on every retry
   * and stalled ingest for every agent.
   */
  private async insertIsolating(records: ResultRecord[]): Promise<InsertReport> {
    try {
      return await this.insertBatch(records);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== "string" || !code.startsWith("22")) throw err;
      const [only] = records;
      if (records.length === 1 && only) {
        const reason = `PostgreSQL cannot store result ${only.id} (interval ${only.interval.start} of test ${only.test.id} at ${only.agent.operator}/${only.agent.site}): ${(err as Error).message} (SQLSTATE ${code})`;
        return { inserted: 0, duplicates: 0, refused: [{ id: only.id, reason }] };
      }
      const mid = records.length >>> 1;
      const a = await this.insertIsolating(records.slice(0, mid));
      const b = await this.insertIsolating(records.slice(mid));
      return {
        inserted: a.inserted + b.inserted,
        duplicates: a.duplicates + b.duplicates,
        refused: [...a.refused, ...b.refused],
      };
    }
  }

  /**
   * Store a batch, with its rollup queue rows and evidence chains, in one transaction. The common case
   * (every result new) goes in by COPY (copyResults); a batch holding a stored id (QoS 1 redelivery) or
   * a claimed interval makes COPY fail on the unique key as a whole, and is then written again by the
   * INSERT … ON CONFLICT statement (insertSorting), which sorts out each row. After such a batch the
   * INSERT stays first (a redelivery burst after a restart) until a batch comes through with neither.
   */
  private async insertBatch(records: ResultRecord[]): Promise<InsertReport> {
    await this.ensurePartitions(records.map((r) => Date.parse(r.interval.start)));
    records.sort(byClaimKey);
    if (this.copyFirst) {
      if (await this.copyResults(records)) return { inserted: records.length, duplicates: 0, refused: [] };
      this.copyFirst = false;
    }
    const report = await this.insertSorting(records);
    if (report.duplicates === 0 && report.refused.length === 0) this.copyFirst = true;
    return report;
  }

  /**
   * The batch by COPY: results, then their rollup queue rows, then the chains. False, with nothing
   * written, when a row hits a unique key (a stored id or interval claim): the caller sorts those out.
   */
  private async copyResults(records: readonly ResultRecord[]): Promise<boolean> {
    try {
      await this.db.transaction(async (tx) => {
        await tx.copyFrom("results", RESULTS_COPY_COLUMNS, Buffer.concat(records.map((r) => r.resultsRow)));
        await tx.copyFrom("rollup_queue", QUEUE_COPY_COLUMNS, Buffer.concat(records.map((r) => r.queueRow)));
        await upsertChains(tx, chainSums(records));
        await updateChains(tx, records);
      });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === "23505") return false; // unique_violation
      throw err;
    }
  }

  /** The batch by INSERT … ON CONFLICT DO NOTHING: redeliveries skipped, second claims refused with their holder. */
  private async insertSorting(records: readonly ResultRecord[]): Promise<InsertReport> {
    const texts = records.map((r) => (typeof r.payload === "string" ? r.payload : utf8.decode(r.payload)));
    const params = [`[${texts.join(",")}]`, records.map((r) => r.chainHash), texts];
    // Results, the rollup queue and the evidence chains commit together, or not at all.
    const inserted = await this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string }>(INSERT_RESULTS_SQL, params, {
        name: "qosprobe_insert_results",
      });
      const ids = new Set(rows.map((r) => r.id));
      const seen = new Set<string>();
      const fresh = records.filter((r) => ids.has(r.id) && !seen.has(r.id) && seen.add(r.id));
      await upsertChains(tx, chainSums(fresh));
      await updateChains(tx, fresh);
      return ids;
    });
    const missing = records.filter((m) => !inserted.has(m.id));
    if (missing.length === 0)
      return { inserted: inserted.size, duplicates: records.length - inserted.size, refused: [] };
    const stored = new Set(
      (await this.db.query<{ id: string }>(STORED_IDS_SQL, [missing.map((m) => m.id)])).map((r) => r.id),
    );
    // Not inserted and not stored under its id: its interval is held by another result.
    const claims = missing.filter((m) => !stored.has(m.id));
    const refused: RefusedClaim[] = [];
    if (claims.length > 0) {
      const holders = await this.db.query<{ i: number | string; holder: string }>(CLAIM_HOLDERS_SQL, [
        claims.map((m) => m.agent.operator),
        claims.map((m) => m.agent.site),
        claims.map((m) => m.test.id),
        claims.map((m) => m.interval.start),
      ]);
      const holderOf = new Map(holders.map((h) => [Number(h.i) - 1, h.holder]));
      claims.forEach((m, i) => {
        const holder = holderOf.get(i) ?? "another result of the same batch";
        refused.push({
          id: m.id,
          reason: `interval ${m.interval.start} of test ${m.test.id} at ${m.agent.operator}/${m.agent.site} is already claimed by result ${holder}; result ${m.id} not stored`,
        });
      });
    }
    // A repeat of an id inserted by this very batch is a duplicate too (it is not in `missing`).
    return { inserted: inserted.size, duplicates: records.length - inserted.size - claims.length, refused };
  }

  /** Make the monthly partitions instants fall in, once per process per month. */
  private async ensurePartitions(instants: readonly number[]): Promise<void> {
    const months = new Set<string>();
    for (const t of instants) {
      // PostgreSQL rounds a start to microseconds where Date.parse truncates to milliseconds: the row's
      // instant is in [t, t + 1 ms] ("…T23:59:59.9999995Z" is stored as the next month's first instant).
      // Most batches fall in the month of the one before: a range check, no Date or string per result.
      if (t >= this.lastMonth[0] && t + 1 < this.lastMonth[1]) continue;
      for (const u of [t, t + 1]) {
        const d = new Date(u);
        const key = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}-01T00:00:00Z`;
        if (!this.partitions.has(key)) months.add(key);
        else
          this.lastMonth = [
            Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
            Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
          ];
      }
    }
    for (const month of months) {
      await this.db.query("SELECT qosprobe_results_partition($1::timestamptz)", [month]);
      this.partitions.add(month);
    }
  }

  rebuildWindows(filter: { from: Date; to: Date }): Promise<void> {
    return guard("rebuild windows", async () => {
      // Whole UTC hours, so the hourly rollup of every hour touched is recomputed from complete windows.
      const from = Math.floor(filter.from.getTime() / HOUR_MS) * HOUR_MS;
      const to = Math.ceil(filter.to.getTime() / HOUR_MS) * HOUR_MS;
      const range = [new Date(from).toISOString(), new Date(to).toISOString()];
      // Results still queued are left to the catch-up pass (each statement sees a result and its queue
      // row together: they commit in one transaction, and under ROLLUP_LOCK only ingest touches the
      // queue, by appending), so nothing is counted twice or missed.
      const source = `SELECT * FROM results r WHERE interval_start >= $1::timestamptz AND interval_start < $2::timestamptz
        AND NOT EXISTS (SELECT 1 FROM rollup_queue q WHERE q.id = r.id AND q.interval_start = r.interval_start)`;
      await this.db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock($1)", [ROLLUP_LOCK]);
        // Windows of the range start from zero, so a rebuild can be repeated.
        for (const [table, at] of [
          ["windows", "window_start"],
          ["fault_windows", "window_start"],
          ["window_hours", "hour_start"],
        ]) {
          await tx.query(
            `DELETE FROM ${table} WHERE ${at} >= $1::timestamptz AND ${at} < $2::timestamptz`,
            range,
          );
        }
        await tx.query(windowUpsert(source, { hours: false }), range);
        await tx.query(faultUpsert(source), range);
        await tx.query(HOURS_FROM_WINDOWS_SQL, range);
      });
    });
  }

  /**
   * The catch-up pass: add every result queued at ingest (and committed by now) to the windows, hours
   * and faults, ROLLUP_PASS_LIMIT per statement, each statement in its own transaction with the queue
   * delete (ROLLUP_PASS_SQL). Returns how many results it rolled up. Concurrent calls (the timer, a
   * report, another collector) queue on the advisory lock; the later one finds what is left.
   */
  rollup(db: SqlDatabase = this.db): Promise<number> {
    return guard("roll up", async () => {
      let total = 0;
      for (;;) {
        const n = await db.transaction(async (tx) => {
          await tx.query("SELECT pg_advisory_xact_lock($1)", [ROLLUP_LOCK]);
          const rows = await tx.query<{ n: number }>(ROLLUP_PASS_SQL, [ROLLUP_PASS_LIMIT], {
            name: "qosprobe_rollup_pass",
          });
          return Number(rows[0]?.n ?? 0);
        });
        total += n;
        if (n < ROLLUP_PASS_LIMIT) return total;
      }
    });
  }

  /**
   * Before a read of the rollups: the catch-up pass on the report's connections, so a report is never
   * behind ingest. A connection that may not write (a read-only role, a standby) cannot run it: then
   * the read goes on only if nothing is queued (a running collector drains the queue every second),
   * and otherwise fails naming how many stored results the report would leave out. Never a silent
   * stale report.
   */
  private async catchUpForRead(): Promise<void> {
    try {
      await this.rollup(this.reportDb);
    } catch (err) {
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      if (code !== "25006" && code !== "42501") throw err; // read_only_sql_transaction, insufficient_privilege
      const rows = await this.reportDb.query<{ n: number | string }>(
        "SELECT count(*) AS n FROM rollup_queue",
      );
      const queued = Number(rows[0]?.n ?? 0);
      if (queued === 0) return;
      throw new QosProbeError(
        "STORE",
        `store: ${queued} stored results are not in the rollups yet, and this connection may not add them (${(err as Error).message}): a report now would leave them out`,
        {
          hint: "read with a role that may write rollup_queue and the rollup tables, or once the running collector's pass (every second) has caught up",
          cause: err,
        },
      );
    }
  }

  queryAggregates(q: AggregateQuery): Promise<AggregateRow[]> {
    return guard("query aggregates", async () => {
      // Everything stored before this read is in the rollups: a report is never behind ingest.
      await this.catchUpForRead();
      // Buckets cut on whole UTC hours (every zone with a whole-hour offset) read the hourly rollup.
      const hourly = [...q.bucket_starts, q.from_ms, q.to_ms].every((t) => t % HOUR_MS === 0);
      const sql = hourly ? AGGREGATE_HOURS_SQL : AGGREGATE_SQL;
      const rows = await this.reportDb.query<Record<string, unknown>>(sql, [
        q.bucket_starts.map((t) => new Date(t).toISOString()),
        new Date(q.from_ms).toISOString(),
        new Date(q.to_ms).toISOString(),
      ]);
      // pg returns bigint as text (PGlite as a number): one type for callers.
      return rows.map((r) => {
        const out: Record<string, unknown> = { ...r };
        for (const c of [...WINDOW_SUM_COLUMNS, "bucket", "measured", "available", "packet_size_bytes"]) {
          out[c] = Number(r[c]);
        }
        out.distance_km = r.distance_km === null ? null : Number(r.distance_km);
        return out as unknown as AggregateRow;
      });
    });
  }

  queryEvidence(filter: { from: Date; to: Date }): Promise<AgentEvidence[]> {
    return guard("query evidence", () => queryEvidence(this.reportDb, filter));
  }

  queryFaults(filter: { from: Date; to: Date }): Promise<FaultRow[]> {
    return guard("query faults", async () => {
      await this.catchUpForRead();
      const rows = await this.reportDb.query<FaultRow>(FAULTS_SQL, [
        filter.from.toISOString(),
        filter.to.toISOString(),
      ]);
      return rows.map((r) => ({
        ...r,
        count: Number(r.count),
        packet_size_bytes: Number(r.packet_size_bytes),
      }));
    });
  }

  insertRejects(rows: readonly RejectInput[]): Promise<void> {
    return guard("insert rejects", async () => {
      if (rows.length === 0) return;
      const bytes = rows.map((r) =>
        typeof r.raw === "string" ? Buffer.from(r.raw, "utf8") : Buffer.from(r.raw),
      );
      // bytea goes in as hex text and is decoded in SQL: both drivers bind text arrays the same way.
      // A rejected result's seq is recorded as decided in the same statement (rejected_seqs).
      const decided = rows.flatMap((r) =>
        r.agent ? [{ operator: r.agent.operator, site: r.agent.site, seq: r.agent.seq }] : [],
      );
      await this.db.query(
        `WITH r AS (
           INSERT INTO rejects (topic, reason, raw, raw_size)
           SELECT t, r, decode(h, 'hex'), s FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS u(t, r, h, s)
         ),
         d AS (
           INSERT INTO rejected_seqs (operator, site, seq)
           SELECT DISTINCT operator, site, seq FROM jsonb_to_recordset($5::jsonb) AS x(operator text, site text, seq bigint)
           ON CONFLICT DO NOTHING
         )
         SELECT 1`,
        [
          rows.map((r) => r.topic),
          rows.map((r) => r.reason),
          bytes.map((b) => b.subarray(0, REJECT_RAW_LIMIT_BYTES).toString("hex")),
          bytes.map((b) => b.length),
          JSON.stringify(decided),
        ],
      );
    });
  }

  upsertStatus(s: SiteStatusInput): Promise<void> {
    return guard("upsert status", async () => {
      // A Last Will carries little: fields it leaves out keep their stored values.
      await this.db.query(
        `INSERT INTO site_status AS old
           (operator, province, site, state, last_heartbeat, updated_at, outbox_depth, dropped, version,
            config_version, payload)
         VALUES ($1, $2, $3, $4, $5::timestamptz, now(), $6, $7, $8, $9, $10::jsonb)
         ON CONFLICT (operator, province, site) DO UPDATE SET
           state = EXCLUDED.state,
           last_heartbeat = COALESCE(EXCLUDED.last_heartbeat, old.last_heartbeat),
           updated_at = EXCLUDED.updated_at,
           outbox_depth = COALESCE(EXCLUDED.outbox_depth, old.outbox_depth),
           dropped = COALESCE(EXCLUDED.dropped, old.dropped),
           version = COALESCE(EXCLUDED.version, old.version),
           config_version = COALESCE(EXCLUDED.config_version, old.config_version),
           payload = COALESCE(EXCLUDED.payload, old.payload)`,
        [
          s.operator,
          s.province,
          s.site,
          s.state,
          s.last_heartbeat?.toISOString() ?? null,
          s.outbox_depth ?? null,
          s.dropped ?? null,
          s.version ?? null,
          s.config_version ?? null,
          s.payload === undefined ? null : JSON.stringify(s.payload),
        ],
      );
    });
  }

  queryResults(filter: ResultFilter): Promise<ResultRow[]> {
    return guard("query results", async () => {
      const params: unknown[] = [filter.from.toISOString(), filter.to.toISOString()];
      let where = "interval_start >= $1::timestamptz AND interval_start < $2::timestamptz";
      if (filter.operator !== undefined) {
        params.push(filter.operator);
        where += ` AND operator = $${params.length}`;
      }
      if (filter.site !== undefined) {
        params.push(filter.site);
        where += ` AND agent_site = $${params.length}`;
      }
      const rows = await this.db.query<ResultRow>(
        `${SELECT_RESULTS_SQL} WHERE ${where} ORDER BY interval_start, agent_site, test_id, id`,
        params,
      );
      // pg returns bigint as a string (PGlite as a number): one type for callers.
      return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
    });
  }

  queryRejects(filter: RejectFilter): Promise<RejectRow[]> {
    return guard("query rejects", async () => {
      const rows = await this.db.query<RejectRow>(
        `SELECT id, received_at, topic, reason, raw, raw_size FROM rejects
         WHERE received_at >= $1::timestamptz AND received_at < $2::timestamptz
         ORDER BY id LIMIT $3`,
        [filter.from.toISOString(), filter.to.toISOString(), filter.limit ?? 1000],
      );
      return rows.map((r) => ({ ...r, id: Number(r.id), raw: new Uint8Array(r.raw) }));
    });
  }

  listSites(): Promise<SiteStatusRow[]> {
    return guard("list sites", async () => {
      const rows = await this.db.query<SiteStatusRow>(
        `SELECT operator, province, site, state, last_heartbeat, updated_at, outbox_depth, dropped, version,
                config_version, payload
         FROM site_status ORDER BY operator, province, site`,
      );
      return rows.map((r) => ({ ...r, dropped: r.dropped === null ? null : Number(r.dropped) }));
    });
  }

  storedSeqs(agent: AgentKey): Promise<SeqIsland[]> {
    return guard("read stored seqs", () => storedSeqs(this.db, agent));
  }

  seqIslands(agent: AgentKey): Promise<SeqIsland[]> {
    return guard("read seq islands", () => seqIslands(this.db, agent));
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.onClose();
    }
  }
}

/** What to do about the connection failures a person can fix (PostgreSQL SQLSTATE / Node error codes). */
export function storeErrorHint(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : "";
  if (message.includes("no PostgreSQL user name"))
    return "put the user in the database URL: postgres://USER@HOST/DB";
  if (code === "3D000")
    return "create the database (createdb NAME) or point --database-url at the collector's";
  if (code === "28000" || code === "28P01")
    return "check the user and password in the database URL (postgres://USER:PASSWORD@HOST/DB)";
  if (code === "ECONNREFUSED") return "is PostgreSQL running and listening on that host and port?";
  // A Unix socket (?host=/dir): the directory or the socket file in it is missing.
  if (code === "ENOENT" && /\.s\.PGSQL\.\d+/.test(message))
    return "no PostgreSQL socket there: is PostgreSQL running, and is ?host= its socket directory (SHOW unix_socket_directories)?";
  return undefined;
}

/** Every store failure surfaces as one error kind, with the operation named and the driver error kept. */
async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QosProbeError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    const hint = storeErrorHint(err);
    throw new QosProbeError("STORE", `store: ${operation} failed: ${detail}`, {
      cause: err,
      ...(hint ? { hint } : {}),
    });
  }
}
