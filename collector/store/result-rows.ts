import type { ResultMessage } from "../../agent/publish/message.js";
import { ROLLUP_QUEUE_COLUMNS } from "./windows-sql.js";

/**
 * One stored result as the row of `results` (and of `rollup_queue`) it becomes: the column list, each
 * column's value read from the validated message in JavaScript, and PostgreSQL's COPY text format for
 * a batch of such rows (sql-store.ts writes a batch with COPY … FROM STDIN: bench:report, 6,000 results,
 * 27–33 µs of backend CPU per result against 92–102 for an INSERT reading the same columns out of a
 * jsonb array in SQL).
 *
 * The same list drives the INSERT that ingest falls back to (it reads each column in SQL: `columnSql`),
 * so the two ways in cannot drift apart; a test stores one batch each way and compares every column.
 */

export interface Column {
  name: string;
  /** The SQL type the value is cast to. */
  type: string;
  /** Where the value is in the result message (JSON keys from the top); absent = a computed column. */
  path?: readonly string[];
}

/**
 * The flattened columns of `results`, in one list so the SQL cannot drift from the message schema.
 * Path columns are the message's value at that path (an absent key is SQL NULL); the computed ones
 * (payload_json, flags, chain_hash, chain_prev) are described where they are computed: `rowValues`.
 */
export const RESULT_COLUMNS: readonly Column[] = [
  { name: "id", type: "uuid", path: ["id"] },
  { name: "seq", type: "bigint", path: ["seq"] },
  { name: "status", type: "text", path: ["status"] },
  { name: "operator", type: "text", path: ["agent", "operator"] },
  { name: "agent_site", type: "text", path: ["agent", "site"] },
  { name: "agent_province", type: "text", path: ["agent", "province"] },
  { name: "agent_version", type: "text", path: ["agent", "version"] },
  { name: "test_id", type: "text", path: ["test", "id"] },
  { name: "method", type: "text", path: ["test", "method"] },
  { name: "target", type: "text", path: ["test", "target"] },
  { name: "peer_site", type: "text", path: ["test", "peer", "site"] },
  { name: "peer_province", type: "text", path: ["test", "peer", "province"] },
  { name: "distance_km", type: "double precision", path: ["test", "distance_km"] },
  { name: "packet_size_bytes", type: "integer", path: ["test", "packet_size_bytes"] },
  { name: "diagnostic", type: "boolean", path: ["test", "diagnostic"] },
  { name: "interval_start", type: "timestamptz", path: ["interval", "start"] },
  { name: "interval_end", type: "timestamptz", path: ["interval", "end"] },
  { name: "sent", type: "integer", path: ["packets", "sent"] },
  { name: "received", type: "integer", path: ["packets", "received"] },
  { name: "lost", type: "integer", path: ["packets", "lost"] },
  { name: "duplicates", type: "integer", path: ["packets", "duplicates"] },
  { name: "reordered", type: "integer", path: ["packets", "reordered"] },
  { name: "late", type: "integer", path: ["packets", "late"] },
  { name: "loss_ratio", type: "double precision", path: ["loss_ratio"] },
  { name: "rtt_mean_ms", type: "double precision", path: ["rtt_ms", "mean"] },
  { name: "rtt_min_ms", type: "double precision", path: ["rtt_ms", "min"] },
  { name: "rtt_max_ms", type: "double precision", path: ["rtt_ms", "max"] },
  { name: "rtt_median_ms", type: "double precision", path: ["rtt_ms", "median"] },
  { name: "rtt_p95_ms", type: "double precision", path: ["rtt_ms", "p95"] },
  { name: "rtt_p99_ms", type: "double precision", path: ["rtt_ms", "p99"] },
  { name: "dv_max_minus_min_ms", type: "double precision", path: ["delay_variation_ms", "max_minus_min"] },
  { name: "dv_basis", type: "text", path: ["delay_variation_ms", "basis"] },
  { name: "profile", type: "text", path: ["verdicts", "profile"] },
  { name: "delay_basis", type: "text", path: ["verdicts", "delay_basis"] },
  { name: "verdict_rtt", type: "text", path: ["verdicts", "rtt"] },
  { name: "verdict_delay_variation", type: "text", path: ["verdicts", "delay_variation"] },
  { name: "verdict_loss", type: "text", path: ["verdicts", "loss"] },
  // Migration 009: the JSON text received, verbatim (the jsonb `payload` column is left NULL).
  { name: "payload_json", type: "json" },
  { name: "error_code", type: "text", path: ["error", "code"] },
  { name: "error_message", type: "text", path: ["error", "message"] },
  // quality.flags as text[] ('{}' when absent).
  { name: "flags", type: "text[]" },
  { name: "ow_forward_mean_ms", type: "double precision", path: ["one_way_ms", "forward", "mean"] },
  { name: "ow_clock_synced", type: "boolean", path: ["one_way_ms", "clock_synced"] },
  // Migration 004: the evidence chain link (store/chains.ts): the message's digest, and chain_prev ""
  // for prev null and NULL when the message has no prev.
  { name: "chain_hash", type: "text" },
  { name: "chain_prev", type: "text" },
];

/** The results columns' names, in RESULT_COLUMNS order. */
export const RESULT_COLUMN_NAMES: readonly string[] = RESULT_COLUMNS.map((c) => c.name);

/** Where each rollup_queue column is in a results row (its columns are results columns by name). */
const QUEUE_INDEXES: readonly number[] = ROLLUP_QUEUE_COLUMNS.map((name) => {
  const i = RESULT_COLUMN_NAMES.indexOf(name);
  if (i < 0) throw new Error(`rollup_queue column ${name} is not a results column`);
  return i;
});

/** A results row's values, in RESULT_COLUMNS order (null = SQL NULL). */
export type ResultRowValues = Array<string | number | boolean | readonly string[] | null>;

/**
 * The row of `results` one validated message becomes. `json` is the text it was received as (stored
 * verbatim); `chainHash` its evidence digest (evidence.ts chainHash) or null when unsigned.
 */
export function rowValues(m: ResultMessage, json: string, chainHash: string | null): ResultRowValues {
  const out: ResultRowValues = [];
  for (const c of RESULT_COLUMNS) {
    if (c.path) {
      let v: unknown = m;
      for (const k of c.path)
        v = v === null || typeof v !== "object" ? undefined : (v as Record<string, unknown>)[k];
      out.push(v === undefined ? null : (v as string | number | boolean | null));
    } else if (c.name === "payload_json") out.push(json);
    else if (c.name === "flags") out.push(m.quality?.flags ?? []);
    else if (c.name === "chain_hash") out.push(chainHash);
    else if (c.name === "chain_prev") out.push("prev" in m ? (m.prev ?? "") : null);
    else throw new Error(`results column ${c.name} has neither a path nor a rule in rowValues`);
  }
  return out;
}

/** The rollup_queue row (ROLLUP_QUEUE_COLUMNS order) of a results row. */
export function queueValues(row: ResultRowValues): ResultRowValues {
  return QUEUE_INDEXES.map((i) => row[i] ?? null);
}

/** A character COPY's text format must escape, or `"`/`\` inside an array element. */
const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const ARRAY_SPECIAL_ALL = /["\\]/g;

/** One value in COPY text format (PostgreSQL docs, COPY, "Text Format"): \N for NULL. */
function copyField(v: string | number | boolean | readonly string[] | null): string {
  if (v === null) return "\\N";
  if (typeof v === "string")
    return COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c] ?? c) : v;
  if (typeof v === "number") {
    // JSON cannot carry NaN or Infinity; a programming error upstream must not store a wrong value.
    if (!Number.isFinite(v)) throw new Error(`COPY: non-finite number ${v}`);
    return String(v);
  }
  if (typeof v === "boolean") return v ? "t" : "f";
  // text[]: an array literal of double-quoted elements, then escaped as any text (Arrays, "Array Value Input").
  return copyField(`{${v.map((e) => `"${e.replace(ARRAY_SPECIAL_ALL, "\\$&")}"`).join(",")}}`);
}

/** Rows in COPY text format: tab-separated fields, one line each. */
export function copyText(rows: readonly ResultRowValues[]): string {
  let out = "";
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += (i === 0 ? "" : "\t") + copyField(row[i] ?? null);
    out += "\n";
  }
  return out;
}
