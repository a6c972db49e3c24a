import { QosProbeError } from "../../agent/errors.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { type ControlPlaneStore, SqlControlPlaneStore } from "../control-plane/store.js";
import type { AggregateRow } from "../rollup.js";
import { loadMigrations, runMigrations } from "./migrate.js";
import { seqIslands, storedSeqs } from "./seqs.js";
import type { SqlClient, SqlDatabase } from "./sql.js";
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
  ResultRow,
  ResultStore,
  SeqIsland,
  SiteStatusInput,
  SiteStatusRow,
} from "./store.js";
import { AGGREGATE_SQL, FAULTS_SQL, faultUpsert, WINDOW_SUM_COLUMNS, windowUpsert } from "./windows-sql.js";

/** A rejected payload is kept up to this many bytes: enough to see what went wrong, bounded on disk. */
export const REJECT_RAW_LIMIT_BYTES = 65_536;

interface Column {
  name: string;
  /** The element type of the array parameter the column is bound through. */
  type: string;
  get: (m: ResultMessage) => unknown;
  /** How the inserted value is made from the unnested parameter `u.<name>`; default as is. */
  sql?: string;
}

/** The flattened columns of `results`, in one list so the SQL and the parameters cannot drift apart. */
const RESULT_COLUMNS: readonly Column[] = [
  { name: "id", type: "uuid", get: (m) => m.id },
  { name: "seq", type: "bigint", get: (m) => m.seq },
  { name: "status", type: "text", get: (m) => m.status },
  { name: "operator", type: "text", get: (m) => m.agent.operator },
  { name: "agent_site", type: "text", get: (m) => m.agent.site },
  { name: "agent_province", type: "text", get: (m) => m.agent.province },
  { name: "agent_version", type: "text", get: (m) => m.agent.version },
  { name: "test_id", type: "text", get: (m) => m.test.id },
  { name: "method", type: "text", get: (m) => m.test.method },
  { name: "target", type: "text", get: (m) => m.test.target },
  { name: "peer_site", type: "text", get: (m) => m.test.peer?.site ?? null },
  { name: "peer_province", type: "text", get: (m) => m.test.peer?.province ?? null },
  { name: "distance_km", type: "double precision", get: (m) => m.test.distance_km ?? null },
  { name: "packet_size_bytes", type: "integer", get: (m) => m.test.packet_size_bytes },
  { name: "diagnostic", type: "boolean", get: (m) => m.test.diagnostic },
  { name: "interval_start", type: "timestamptz", get: (m) => m.interval.start },
  { name: "interval_end", type: "timestamptz", get: (m) => m.interval.end },
  { name: "sent", type: "integer", get: (m) => m.packets.sent },
  { name: "received", type: "integer", get: (m) => m.packets.received },
  { name: "lost", type: "integer", get: (m) => m.packets.lost },
  { name: "duplicates", type: "integer", get: (m) => m.packets.duplicates },
  { name: "reordered", type: "integer", get: (m) => m.packets.reordered },
  { name: "late", type: "integer", get: (m) => m.packets.late },
  { name: "loss_ratio", type: "double precision", get: (m) => m.loss_ratio },
  { name: "rtt_mean_ms", type: "double precision", get: (m) => m.rtt_ms.mean },
  { name: "rtt_min_ms", type: "double precision", get: (m) => m.rtt_ms.min },
  { name: "rtt_max_ms", type: "double precision", get: (m) => m.rtt_ms.max },
  { name: "rtt_median_ms", type: "double precision", get: (m) => m.rtt_ms.median },
  { name: "rtt_p95_ms", type: "double precision", get: (m) => m.rtt_ms.p95 },
  { name: "rtt_p99_ms", type: "double precision", get: (m) => m.rtt_ms.p99 },
  { name: "dv_max_minus_min_ms", type: "double precision", get: (m) => m.delay_variation_ms.max_minus_min },
  { name: "dv_basis", type: "text", get: (m) => m.delay_variation_ms.basis },
  { name: "profile", type: "text", get: (m) => m.verdicts.profile },
  { name: "delay_basis", type: "text", get: (m) => m.verdicts.delay_basis },
  { name: "verdict_rtt", type: "text", get: (m) => m.verdicts.rtt },
  { name: "verdict_delay_variation", type: "text", get: (m) => m.verdicts.delay_variation },
  { name: "verdict_loss", type: "text", get: (m) => m.verdicts.loss },
  // Bound as JSON text and cast, so neither driver has to know how to serialise a jsonb array.
  { name: "payload", type: "jsonb", get: (m) => JSON.stringify(m) },
  { name: "error_code", type: "text", get: (m) => m.error?.code ?? null },
  { name: "error_message", type: "text", get: (m) => m.error?.message ?? null },
  // unnest flattens a 2-D array, so each row's flags travel as JSON text and become text[] in SQL.
  {
    name: "flags",
    type: "text",
    get: (m) => JSON.stringify(m.quality.flags),
    sql: "ARRAY(SELECT jsonb_array_elements_text(u.flags::jsonb))",
  },
  { name: "ow_forward_mean_ms", type: "double precision", get: (m) => m.one_way_ms?.forward.mean ?? null },
  { name: "ow_clock_synced", type: "boolean", get: (m) => m.one_way_ms?.clock_synced ?? null },
];

const COLUMN_LIST = RESULT_COLUMNS.map((c) => c.name).join(", ");
/** The columns as rows of `results` hold them (the v1 columns, without the ones migration 3 added). */
const V1_COLUMN_LIST = RESULT_COLUMNS.slice(0, RESULT_COLUMNS.findIndex((c) => c.name === "payload") + 1)
  .map((c) => c.name)
  .join(", ");

/**
 * One statement per batch: every column travels as one array parameter and `unnest` zips them back
 * into rows (~15× faster than row-by-row on PGlite). ON CONFLICT (no target) skips both a stored id
 * (redelivery) and a stored (operator, site, test, interval start) under another id (a second claim);
 * the window and fault tables are fed from RETURNING, i.e. only from rows really inserted, in the same
 * statement: a redelivery or a refused claim adds nothing to any rollup.
 */
const INSERT_RESULTS_SQL = `
WITH ins AS (
  INSERT INTO results (${COLUMN_LIST})
  SELECT ${RESULT_COLUMNS.map((c) => c.sql ?? `u.${c.name}`).join(", ")}
  FROM unnest(${RESULT_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(", ")}) AS u(${COLUMN_LIST})
  ON CONFLICT DO NOTHING
  RETURNING *
),
win AS (${windowUpsert("SELECT * FROM ins")}),
flt AS (${faultUpsert("SELECT * FROM ins")})
SELECT id::text AS id FROM ins`;

/** Of the ids not inserted, which are stored (redeliveries); the rest were refused claims. */
const STORED_IDS_SQL = "SELECT id::text AS id FROM results WHERE id = ANY($1::uuid[])";

/** Who holds each refused claim, for the reject's reason. */
const CLAIM_HOLDERS_SQL = `
SELECT u.i, r.id::text AS holder
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(op, site, test, start, i)
JOIN results r ON r.operator = u.op AND r.agent_site = u.site AND r.test_id = u.test AND r.interval_start = u.start`;

const SELECT_RESULTS_SQL = `SELECT received_at, ${V1_COLUMN_LIST} FROM results`;

/** The store over any SqlDatabase; postgres.ts and pglite.ts only supply the connection. */
export class SqlResultStore implements ResultStore {
  private readonly db: SqlDatabase;
  private readonly migrationsDir: string | undefined;
  private readonly onClose: () => Promise<void>;
  /** Where reports read: a connection of their own on PostgreSQL, so a long report never holds up ingest. */
  private readonly reportDb: SqlClient;
  /** Months whose results partition is known to exist ("YYYY-MM-01T00:00:00Z"). */
  private readonly partitions = new Set<string>();
  readonly controlPlane: ControlPlaneStore;

  constructor(
    db: SqlDatabase,
    options: { migrationsDir?: string; onClose?: () => Promise<void>; reportDb?: SqlClient } = {},
  ) {
    this.db = db;
    this.reportDb = options.reportDb ?? db;
    this.migrationsDir = options.migrationsDir;
    this.onClose = options.onClose ?? (async () => {});
    this.controlPlane = new SqlControlPlaneStore(this.db, this.reportDb);
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

  insertResults(msgs: readonly ResultMessage[]): Promise<InsertReport> {
    return guard("insert results", async () => {
      if (msgs.length === 0) return { inserted: 0, duplicates: 0, refused: [] };
      await this.ensurePartitions(msgs.map((m) => Date.parse(m.interval.start)));
      const params = RESULT_COLUMNS.map((c) => msgs.map(c.get));
      const rows = await this.db.query<{ id: string }>(INSERT_RESULTS_SQL, params);
      const inserted = new Set(rows.map((r) => r.id));
      const missing = msgs.filter((m) => !inserted.has(m.id));
      if (missing.length === 0)
        return { inserted: inserted.size, duplicates: msgs.length - inserted.size, refused: [] };
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
      return { inserted: inserted.size, duplicates: msgs.length - inserted.size - claims.length, refused };
    });
  }

  /** Make the monthly partitions instants fall in, once per process per month. */
  private async ensurePartitions(instants: readonly number[]): Promise<void> {
    const months = new Set<string>();
    for (const t of instants) {
      const d = new Date(t);
      const key = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}-01T00:00:00Z`;
      if (!this.partitions.has(key)) months.add(key);
    }
    for (const month of months) {
      await this.db.query("SELECT qosprobe_results_partition($1::timestamptz)", [month]);
      this.partitions.add(month);
    }
  }

  rebuildWindows(filter: { from: Date; to: Date }): Promise<void> {
    return guard("rebuild windows", async () => {
      const range = [filter.from.toISOString(), filter.to.toISOString()];
      const source =
        "SELECT * FROM results WHERE interval_start >= $1::timestamptz AND interval_start < $2::timestamptz";
      await this.db.transaction(async (tx) => {
        // Windows of the range start from zero, so a rebuild can be repeated.
        await tx.query(
          "DELETE FROM windows WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz",
          range,
        );
        await tx.query(
          "DELETE FROM fault_windows WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz",
          range,
        );
        await tx.query(windowUpsert(source), range);
        await tx.query(faultUpsert(source), range);
      });
    });
  }

  queryAggregates(q: AggregateQuery): Promise<AggregateRow[]> {
    return guard("query aggregates", async () => {
      const rows = await this.reportDb.query<Record<string, unknown>>(AGGREGATE_SQL, [
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

  queryFaults(filter: { from: Date; to: Date }): Promise<FaultRow[]> {
    return guard("query faults", async () => {
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
      await this.db.query(
        `INSERT INTO rejects (topic, reason, raw, raw_size)
         SELECT t, r, decode(h, 'hex'), s FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS u(t, r, h, s)`,
        [
          rows.map((r) => r.topic),
          rows.map((r) => r.reason),
          bytes.map((b) => b.subarray(0, REJECT_RAW_LIMIT_BYTES).toString("hex")),
          bytes.map((b) => b.length),
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

/** Every store failure surfaces as one error kind, with the operation named and the driver error kept. */
async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QosProbeError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new QosProbeError("STORE", `store: ${operation} failed: ${detail}`, { cause: err });
  }
}
