import type { ResultMessage } from "../../agent/publish/message.js";
import type { ControlPlaneStore } from "../control-plane/store.js";
import type { AgentEvidence } from "../evidence.js";
import type { AggregateRow } from "../rollup.js";
import type { AgentKey, SeqIsland } from "./seqs.js";

export type { AgentKey, SeqIsland } from "./seqs.js";

/**
 * The collector's storage, one interface for PostgreSQL and embedded PGlite. Inserts are idempotent on
 * the result id because MQTT QoS 1 delivers at least once: a redelivery is counted, never stored twice.
 */
export interface ResultStore {
  /** Apply pending migrations (each once, in its own transaction). Safe to call on every start. */
  migrate(): Promise<MigrationReport>;
  /**
   * The schema as found, without changing it (for read commands, which never migrate): `current` is the
   * highest migration applied (0: no schema_migrations table, i.e. no qos-probe store), `needed` the
   * highest this program ships.
   */
  schemaVersion(): Promise<{ current: number; needed: number }>;
  /**
   * Store results and queue them for the 5-minute window, hour and fault tables (rollup()). A stored id is
   * a duplicate (nothing added); another id claiming a stored (operator, site, test, interval start) is
   * refused with a reason, for the caller to record as a reject; so is a result with a value PostgreSQL
   * cannot hold (the rest of its batch is stored).
   */
  insertResults(results: readonly (ResultMessage | ResultRecord)[]): Promise<InsertReport>;
  /**
   * The catch-up pass (migration 007): add the results stored since the last pass to the window, hour
   * and fault tables; resolves to how many. queryAggregates / queryFaults run it first themselves.
   * Optional so in-memory test doubles of the result path need not have it.
   */
  rollup?(): Promise<number>;
  /** Recompute the window and fault tables for interval starts in [from, to) from stored results. */
  rebuildWindows(filter: { from: Date; to: Date }): Promise<void>;
  /** Window sums per rollup key and bucket for windows starting in [from, to) (the report's only read). */
  queryAggregates(q: AggregateQuery): Promise<AggregateRow[]>;
  /**
   * Per agent with stored results in [from, to): its evidence chain as kept at ingest (whole stored
   * chain: counts, seqs, head digest) and the chain breaks whose result starts in [from, to).
   */
  queryEvidence(filter: { from: Date; to: Date }): Promise<AgentEvidence[]>;
  /** Faults and errors per rollup key and code, for windows starting in [from, to). */
  queryFaults(filter: { from: Date; to: Date }): Promise<FaultRow[]>;
  insertRejects(rows: readonly RejectInput[]): Promise<void>;
  upsertStatus(status: SiteStatusInput): Promise<void>;
  /** Results whose interval starts in [from, to), oldest first. */
  queryResults(filter: ResultFilter): Promise<ResultRow[]>;
  /** Rejects received in [from, to), oldest first. */
  queryRejects(filter: RejectFilter): Promise<RejectRow[]>;
  listSites(): Promise<SiteStatusRow[]>;
  /** An agent's stored seqs as ascending inclusive islands, for store receipts (seqs.ts). */
  storedSeqs(agent: AgentKey): Promise<SeqIsland[]>;
  /** The same over the whole history, without touching the watermark (gap listings). */
  seqIslands(agent: AgentKey): Promise<SeqIsland[]>;
  /**
   * Config acks and the heartbeats' control-plane facts (issue 11): collector/control-plane/store.ts.
   * Every SQL store has it; optional so in-memory test doubles of the result path need not.
   */
  readonly controlPlane?: ControlPlaneStore;
  close(): Promise<void>;
}

export interface MigrationReport {
  /** Versions applied by this call, ascending; empty when the schema was already current. */
  applied: number[];
  /** The highest version now in `schema_migrations`. */
  current: number;
  /**
   * The highest version this program ships. Above it, `current` means a newer qos-probe migrated the
   * store: this one still writes correctly (migrations only add), but may read newer rows incompletely.
   */
  known: number;
}

/**
 * What ingest, its callbacks and the store keep of a validated result once its rows are encoded: the
 * fields that name it. A ResultMessage is one; so is a ResultRecord.
 */
export interface ResultHead {
  id: string;
  seq: number;
  status: ResultMessage["status"];
  agent: ResultMessage["agent"];
  test: { id: string };
  interval: ResultMessage["interval"];
}

/**
 * A validated result ready to store (store/result-rows.ts resultRecord), made when it arrives: its
 * head, its `results` and `rollup_queue` rows already in COPY text format, and its evidence link. What
 * ingest holds while a result waits for its batch: ~0.3 kB of heap instead of the parsed message
 * (~3 kB) and its text (~1.5 kB). Holding those made nearly every waiting result survive a young-
 * generation GC and be promoted (bench:report: promotion rate 99 %, ~7 MB per scavenge).
 */
export interface ResultRecord extends ResultHead {
  /** The `results` row (RESULTS_COPY_COLUMNS: the queue columns first), COPY text format, newline-terminated. */
  resultsRow: Uint8Array;
  /** The `rollup_queue` row (QUEUE_COPY_COLUMNS: a prefix of resultsRow), COPY text format, newline-terminated. */
  queueRow: Uint8Array;
  /** The evidence chain digest (evidence.ts chainHash); null when unsigned. */
  chainHash: string | null;
  /** The result carries `sig` or `prev`: the chain links into it are judged (chains.ts updateChains). */
  linked: boolean;
  /** Its signature was verified against a registered device key (evidence_chains.checked). */
  checked: boolean;
  /** The payload as received (UTF-8 bytes, or text): the INSERT path decodes it again. */
  payload: Uint8Array | string;
}

export interface InsertReport {
  inserted: number;
  /** Messages whose id was already stored (or repeated within the batch). */
  duplicates: number;
  /**
   * Messages refused, with the reason: their interval is already claimed by another result id, or
   * PostgreSQL cannot hold one of their values (sql-store.ts insertIsolating).
   */
  refused: RefusedClaim[];
}

export interface RefusedClaim {
  id: string;
  reason: string;
}

export interface AggregateQuery {
  /** Contiguous bucket starts, ascending, epoch ms; a window goes to the last start ≤ its own. */
  bucket_starts: readonly number[];
  from_ms: number;
  to_ms: number;
}

/** Faults (`status: fault`) and errors of one rollup key and code over a range. */
export interface FaultRow {
  operator: string;
  from_site: string;
  to: string;
  test_id: string;
  method: string;
  packet_size_bytes: number;
  status: "fault" | "error";
  code: string;
  count: number;
  last_at: Date;
  last_message: string;
}

export interface RejectInput {
  topic: string;
  reason: string;
  raw: Uint8Array | string;
  /**
   * The agent and seq of a result the store decided to refuse (a second claim on a stored interval):
   * the seq counts as decided for store receipts (issue 7). Left out where what arrived may not be
   * what the agent sent (bad signature, unparseable payload): the agent keeps republishing those.
   */
  agent?: { operator: string; province: string; site: string; seq: number };
}

export interface ResultFilter {
  from: Date;
  to: Date;
  operator?: string;
  /** The measuring (agent) site. */
  site?: string;
}

export interface RejectFilter {
  from: Date;
  to: Date;
  limit?: number;
}

export type SiteState = "online" | "offline";

export interface SiteStatusInput {
  operator: string;
  province: string;
  site: string;
  state: SiteState;
  /** When the heartbeat was received; leave out for a Last Will (`offline`) so the last one is kept. */
  last_heartbeat?: Date;
  /** Fields a Last Will does not carry may be left out: the stored values are kept. */
  outbox_depth?: number;
  dropped?: number;
  version?: string;
  config_version?: string;
  payload?: unknown;
}

export interface SiteStatusRow {
  operator: string;
  province: string;
  site: string;
  state: SiteState;
  last_heartbeat: Date | null;
  updated_at: Date;
  outbox_depth: number | null;
  dropped: number | null;
  version: string | null;
  config_version: string | null;
  payload: unknown;
}

/** One stored result: the flattened columns (snake_case, as in SQL) plus the full message. */
export interface ResultRow {
  id: string;
  received_at: Date;
  seq: number;
  status: ResultMessage["status"];
  operator: string;
  agent_site: string;
  agent_province: string;
  agent_version: string;
  test_id: string;
  method: ResultMessage["test"]["method"];
  target: string;
  peer_site: string | null;
  peer_province: string | null;
  distance_km: number | null;
  packet_size_bytes: number;
  diagnostic: boolean;
  interval_start: Date;
  interval_end: Date;
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  late: number;
  loss_ratio: number | null;
  rtt_mean_ms: number | null;
  rtt_min_ms: number | null;
  rtt_max_ms: number | null;
  rtt_median_ms: number | null;
  rtt_p95_ms: number | null;
  rtt_p99_ms: number | null;
  dv_max_minus_min_ms: number | null;
  dv_basis: ResultMessage["delay_variation_ms"]["basis"];
  profile: ResultMessage["verdicts"]["profile"];
  delay_basis: ResultMessage["verdicts"]["delay_basis"];
  verdict_rtt: ResultMessage["verdicts"]["rtt"];
  verdict_delay_variation: ResultMessage["verdicts"]["delay_variation"];
  verdict_loss: ResultMessage["verdicts"]["loss"];
  payload: ResultMessage;
}

export interface RejectRow {
  id: number;
  received_at: Date;
  topic: string;
  reason: string;
  /** The stored bytes (cut to the store's bound). */
  raw: Uint8Array;
  /** The length of the payload as received. */
  raw_size: number;
}
