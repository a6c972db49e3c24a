import type { ResultMessage } from "../../agent/publish/message.js";
import { chainHash, signatureChecked } from "../evidence.js";
import { messageJson } from "../validate.js";
import type { ResultRecord } from "./store.js";
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
 * (payload_text, flags, chain_hash, chain_prev) are described where they are computed: `columnValue`.
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
  // Migration 011: the JSON text received, verbatim, as text (migration 009's json column and the
  // jsonb `payload` are left NULL; the collector parsed these bytes already, PostgreSQL need not).
  { name: "payload_text", type: "text" },
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

/** The rollup_queue columns (all results columns, by name) in results order: one pass writes both rows. */
export const QUEUE_COPY_COLUMNS: readonly string[] = RESULT_COLUMN_NAMES.filter((n) =>
  ROLLUP_QUEUE_COLUMNS.includes(n),
);
for (const name of ROLLUP_QUEUE_COLUMNS)
  if (!QUEUE_COPY_COLUMNS.includes(name))
    throw new Error(`rollup_queue column ${name} is not a results column`);
/**
 * The results columns in the order ingest's COPY sends them: the rollup_queue columns first, so a
 * record's queue row is a prefix of its results row (copied, not encoded twice).
 */
const COPY_ORDER: readonly Column[] = [
  ...RESULT_COLUMNS.filter((c) => QUEUE_COPY_COLUMNS.includes(c.name)),
  ...RESULT_COLUMNS.filter((c) => !QUEUE_COPY_COLUMNS.includes(c.name)),
];
/** Where payload_text is in COPY_ORDER. */
const PAYLOAD_AT = COPY_ORDER.findIndex((c) => c.name === "payload_text");

/** The column list of a record's results row (ResultRecord.resultsRow). */
export const RESULTS_COPY_COLUMNS: readonly string[] = COPY_ORDER.map((c) => c.name);

type Getter = (m: ResultMessage, json: string, chainHash: string | null) => CopyValue;

/**
 * COPY_ORDER's values as closures, one per column (the row encoder's hot loop): a path column reads
 * its keys directly; the computed ones as columnValue computes them (a test compares the two).
 */
const COPY_GETTERS: readonly Getter[] = COPY_ORDER.map((c) =>
  c.path ? pathGetter(c.path) : (m, json, hash) => columnValue(m, c, json, hash),
);

function pathGetter(path: readonly string[]): Getter {
  type Node = Record<string, unknown> | null | undefined;
  const orNull = (v: unknown): CopyValue => (v === undefined ? null : (v as CopyValue));
  const [a = "", b = "", c = ""] = path;
  if (path.length === 1) return (m) => orNull((m as unknown as Record<string, unknown>)[a]);
  if (path.length === 2) return (m) => orNull(((m as unknown as Record<string, Node>)[a] ?? undefined)?.[b]);
  if (path.length === 3)
    return (m) => orNull((((m as unknown as Record<string, Node>)[a] ?? undefined)?.[b] as Node)?.[c]);
  throw new Error(`results column path ${path.join(".")} is deeper than 3`);
}

/** One column's value: a string, number, boolean, text[] or null (SQL NULL). */
export type CopyValue = string | number | boolean | readonly string[] | null;

/**
 * Column `c` of the row one validated message becomes. `json` is the text it was received as (stored
 * verbatim); `chainHash` its evidence digest (evidence.ts chainHash) or null when unsigned.
 */
export function columnValue(m: ResultMessage, c: Column, json: string, chainHash: string | null): CopyValue {
  if (c.path) {
    let v: unknown = m;
    for (const k of c.path)
      v = v === null || typeof v !== "object" ? undefined : (v as Record<string, unknown>)[k];
    return v === undefined ? null : (v as CopyValue);
  }
  if (c.name === "payload_text") return json;
  if (c.name === "flags") return m.quality?.flags ?? [];
  if (c.name === "chain_hash") return chainHash;
  if (c.name === "chain_prev") return "prev" in m ? (m.prev ?? "") : null;
  throw new Error(`results column ${c.name} has neither a path nor a rule in columnValue`);
}

/** The whole row, in RESULT_COLUMNS order (for tests and diagnostics; ingest writes columnValue straight to COPY). */
export function rowValues(m: ResultMessage, json: string, chainHash: string | null): CopyValue[] {
  return RESULT_COLUMNS.map((c) => columnValue(m, c, json, chainHash));
}

/** The arenas records' rows are written into (one process-wide pair: records are made on one thread). */
let arenas: { results: RowArena; queue: RowArena } | undefined;

/**
 * The record a validated message is stored from (store.ts ResultRecord): its `results` and
 * `rollup_queue` rows in COPY text format, written in one pass, and the fields that name it. `json` is
 * the text it was received as (stored verbatim), `payload` what arrived (kept for the INSERT path);
 * `chainHash` its evidence digest or null; `checked` whether its signature was verified.
 */
export function resultRecord(
  m: ResultMessage,
  json: string,
  payload: Uint8Array | string,
  chainHash: string | null,
  checked: boolean,
): ResultRecord {
  arenas ??= { results: new RowArena(), queue: new RowArena(1 << 18) };
  const results = new CopyWriter(arenas.results);
  let prefix = 0;
  for (let i = 0; i < COPY_ORDER.length; i++) {
    if (i === PAYLOAD_AT && typeof payload !== "string" && results.rawText(payload)) continue;
    results.value((COPY_GETTERS[i] as Getter)(m, json, chainHash));
    if (i === QUEUE_COPY_COLUMNS.length - 1) prefix = results.length;
  }
  results.endRow();
  const resultsRow = results.bytes();
  const queue = new CopyWriter(arenas.queue);
  queue.append(resultsRow.subarray(0, prefix));
  queue.endRow();
  return {
    id: m.id,
    seq: m.seq,
    status: m.status,
    // The parsed message's own small objects: holding them does not hold the rest of it.
    agent: m.agent,
    test: { id: m.test.id },
    interval: m.interval,
    resultsRow,
    queueRow: queue.bytes(),
    chainHash,
    linked: m.sig !== undefined || m.prev !== undefined,
    checked,
    payload,
  };
}

/** A message's record from what ingest knows of it: the text it was validated from, its evidence. */
export function recordOf(m: ResultMessage): ResultRecord {
  const json = messageJson(m);
  return resultRecord(m, json, json, chainHash(m), signatureChecked(m));
}

/** Whether `x` is a ResultRecord (its rows encoded) rather than a parsed message. */
export function isRecord(x: ResultMessage | ResultRecord): x is ResultRecord {
  return "resultsRow" in x;
}

/** Whether `s` holds a character COPY's text format must escape (four indexOf: ~12× faster than one regex test on a 1 kB payload). */
function needsCopyEscape(s: string): boolean {
  return s.indexOf("\\") >= 0 || s.indexOf("\n") >= 0 || s.indexOf("\r") >= 0 || s.indexOf("\t") >= 0;
}
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const ARRAY_SPECIAL_ALL = /["\\]/g;

/** One value in COPY text format (PostgreSQL docs, COPY, "Text Format"): \N for NULL. */
function copyField(v: CopyValue): string {
  if (v === null) return "\\N";
  if (typeof v === "string")
    return needsCopyEscape(v) ? v.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c] ?? c) : v;
  if (typeof v === "number") return numberField(v);
  if (typeof v === "boolean") return v ? "t" : "f";
  // text[]: an array literal of double-quoted elements, then escaped as any text (Arrays, "Array Value Input").
  return copyField(`{${v.map((e) => `"${e.replace(ARRAY_SPECIAL_ALL, "\\$&")}"`).join(",")}}`);
}

/** A number as COPY text (ASCII: digits, sign, point, exponent). */
function numberField(v: number): string {
  // JSON cannot carry NaN or Infinity; a programming error upstream must not store a wrong value.
  if (!Number.isFinite(v)) throw new Error(`COPY: non-finite number ${v}`);
  return String(v);
}

/**
 * Where rows are written: one large Buffer after another, each row a view of its stretch. One
 * allocation per ~600 rows instead of two per row (a Buffer per row cost ~6 % of ingest's CPU in
 * node's pool and ArrayBuffer set-up); an arena is freed once no waiting row is in it.
 */
export class RowArena {
  buf: Buffer;
  used = 0;

  constructor(readonly bytes = 1 << 20) {
    this.buf = Buffer.allocUnsafeSlow(bytes);
  }

  /** Move on to a fresh arena with room for at least `n` bytes after the `keep` bytes at `from`. */
  renew(from: number, keep: number, n: number): void {
    const next = Buffer.allocUnsafeSlow(Math.max(this.bytes, 2 * (keep + n)));
    this.buf.copy(next, 0, from, from + keep);
    this.buf = next;
    this.used = 0;
  }
}

/** COPY text format, appended to a RowArena: tab between values, newline after each row. */
export class CopyWriter {
  private readonly arena: RowArena;
  /** Where this writer's bytes start in arena.buf, and how many it has written. */
  private start: number;
  private len = 0;
  private rowStart = true;

  constructor(arena: RowArena = new RowArena(4096)) {
    this.arena = arena;
    this.start = arena.used;
  }

  value(v: CopyValue): void {
    if (!this.rowStart) this.byte(9);
    this.rowStart = false;
    // NULL, booleans and numbers are ASCII: written here byte by byte, not by a call into C++ each
    // (about 25 such values a row; bench:report's unsigned ingest spent ~7 % of node's CPU in `text`).
    if (v === null) {
      this.room(2);
      this.arena.buf[this.start + this.len++] = 0x5c; // "\N"
      this.arena.buf[this.start + this.len++] = 0x4e;
      return;
    }
    if (typeof v === "number") {
      this.plain(numberField(v));
      return;
    }
    if (typeof v === "boolean") {
      this.byte(v ? 0x74 : 0x66); // "t" / "f"
      return;
    }
    if (typeof v === "string" && v.length <= 32 && this.plain(v)) return;
    this.text(copyField(v));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  /**
   * The payload's own UTF-8 bytes as the next value, when COPY needs no escape in them (no backslash,
   * newline, carriage return or tab byte; a byte order mark left out, as the validated text has none):
   * a copy instead of encoding the decoded text again (~4 µs a result). False, with nothing written,
   * when an escape is needed (the caller writes the text).
   */
  rawText(bytes: Uint8Array): boolean {
    const from = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    const b = Buffer.from(bytes.buffer, bytes.byteOffset + from, bytes.byteLength - from);
    if (b.indexOf(0x5c) >= 0 || b.indexOf(0x0a) >= 0 || b.indexOf(0x0d) >= 0 || b.indexOf(0x09) >= 0)
      return false;
    if (!this.rowStart) this.byte(9);
    this.rowStart = false;
    this.append(b);
    return true;
  }

  /** Bytes already in COPY text format (a prefix of another row). */
  append(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.arena.buf.set(bytes, this.start + this.len);
    this.len += bytes.length;
  }

  /**
   * A short string of printable ASCII without a backslash, byte by byte (most values: keys, codes,
   * timestamps): cheaper than a call into C++ and four indexOf. False, with nothing written, otherwise.
   */
  private plain(s: string): boolean {
    this.room(s.length);
    const buf = this.arena.buf;
    const at = this.start + this.len;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || c < 0x20 || c === 0x5c) return false;
      buf[at + i] = c;
    }
    this.len += s.length;
    return true;
  }

  endRow(): void {
    this.byte(10);
    this.rowStart = true;
  }

  /** What was written, a view of the arena; the arena's next writer starts after it. */
  bytes(): Buffer {
    const end = this.start + this.len;
    this.arena.used = end;
    return this.arena.buf.subarray(this.start, end);
  }

  private byte(b: number): void {
    this.room(1);
    this.arena.buf[this.start + this.len++] = b;
  }

  private text(s: string): void {
    // At most 3 UTF-8 bytes per UTF-16 code unit (a surrogate pair is 4 bytes for 2 units).
    this.room(3 * s.length);
    this.len += this.arena.buf.write(s, this.start + this.len, "utf8");
  }

  private room(n: number): void {
    if (this.start + this.len + n <= this.arena.buf.length) return;
    this.arena.renew(this.start, this.len, n);
    this.start = 0;
  }
}

/** Rows in COPY text format (CopyWriter), as text: for tests. */
export function copyText(rows: readonly (readonly CopyValue[])[]): string {
  const w = new CopyWriter();
  for (const row of rows) {
    for (const v of row) w.value(v);
    w.endRow();
  }
  return w.bytes().toString("utf8");
}
