import { type Clock, systemClock } from "../agent/clock.js";
import type { Logger } from "../agent/log.js";
import type { ResultMessage } from "../agent/publish/message.js";
import { chainHash, type DeviceKeys, signatureChecked } from "./evidence.js";
import { resultRecord } from "./store/result-rows.js";
import type { RejectInput, ResultHead, ResultRecord, ResultStore } from "./store/store.js";
import { messageJson, validateResult } from "./validate.js";

export interface IngestOptions {
  store: ResultStore;
  log: Logger;
  clock?: Clock;
  /** Write as soon as this many messages (results plus rejects) wait. */
  batchSize?: number;
  /** Write whatever waits at least this often. */
  flushIntervalMs?: number;
  /** Above this many waiting messages new ones are refused ("unstored") until the store catches up. */
  maxPending?: number;
  /**
   * Group commit: write at the end of the event-loop turn in which a message arrives, instead of
   * waiting for batchSize or the interval. Whatever arrives in the same turn, or while the previous
   * write runs, goes into one INSERT. For callers that wait on `accept` before acknowledging.
   */
  groupCommit?: boolean;
  /** Called after each committed batch of results (store receipts, the batch's log line). */
  onStored?: (msgs: readonly ResultHead[], batch: StoredBatch) => void;
  /**
   * Called after refused interval claims are committed as rejects: those seqs are decided, so their
   * agents get a store receipt covering them (issue 7).
   */
  onRejected?: (agents: ReadonlyArray<NonNullable<RejectInput["agent"]>>) => void;
  /** Registered device keys: a result from such a site must carry a signature that verifies. */
  deviceKeys?: DeviceKeys;
  /**
   * Batches written at once, each in its own transaction (default 3): while one commits (WAL flush)
   * or travels, the others' COPY runs. With the catch-up pass's connection that is the PostgreSQL
   * pool's 4. bench:report unsigned ingest, 2 cores, 5 alternated pairs: 2 lanes 16,154–18,749/s
   * (median 17,288), 3 lanes 18,162–19,415/s (median 19,305); 4 and 6 lanes were no better.
   */
  writeConcurrency?: number;
  /**
   * How often the store's catch-up pass (ResultStore.rollup, migration 007) adds what was stored to the
   * window, hour and fault tables, ms (default 1000). Off the write lanes: batches never wait for it.
   * Reports do not depend on it (they run the pass before reading); it keeps each pass small.
   */
  rollupIntervalMs?: number;
}

/**
 * What became of one delivery. "stored" covers a duplicate too (it was already safe); "rejected" means
 * it is recorded in `rejects`; "unstored" means the store could not take it, so the MQTT layer should
 * not acknowledge it and the broker will deliver it again.
 */
/** About one committed batch, for its log line. */
export interface StoredBatch {
  /** Milliseconds the store write took (results, rollups and chains in one transaction), wall clock. */
  ms: number;
}

export type AcceptOutcome = "stored" | "rejected" | "unstored";

export interface IngestCounters {
  /** Valid result messages taken in. */
  accepted: number;
  /** Results written for the first time. */
  stored: number;
  /** Results whose id was already stored (QoS 1 redelivery). */
  duplicates: number;
  /** Payloads that failed validation. */
  rejected: number;
  /** Failed writes (each is retried on the next flush). */
  store_errors: number;
  /** Deliveries turned away because too many were waiting. */
  refused: number;
  /** Results Ingest's catch-up passes (timer and stop) added to the window, hour and fault tables. */
  rolled_up: number;
  /**
   * Failed catch-up passes (timer and stop). While they fail, stored results wait in rollup_queue and
   * every report read fails too (it runs the pass first): rising here is what an operator must see.
   */
  rollup_errors: number;
}

export function zeroIngestCounters(): IngestCounters {
  return {
    accepted: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    store_errors: 0,
    refused: 0,
    rolled_up: 0,
    rollup_errors: 0,
  };
}

function agentSeq(m: ResultHead): NonNullable<RejectInput["agent"]> {
  return { operator: m.agent.operator, province: m.agent.province, site: m.agent.site, seq: m.seq };
}

/** The record a validated (and, with a device key, evidence-checked) message waits in. */
function recordFor(m: ResultMessage, payload: Uint8Array | string): ResultRecord {
  return resultRecord(m, messageJson(m), payload, chainHash(m), signatureChecked(m));
}

interface Waiting<T> {
  item: T;
  settle: (outcome: AcceptOutcome) => void;
  /** Where it came from (results only): a refused interval claim is recorded as a reject on it. */
  topic?: string;
  raw?: Uint8Array | string;
}

/**
 * Validate, buffer and write result messages in batches. `accept` resolves once the message is in the
 * store (or known unstorable), so the MQTT layer can acknowledge only what is safe. Never throws.
 */
export class Ingest {
  private readonly store: ResultStore;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxPending: number;
  private readonly groupCommit: boolean;
  private readonly onStored: IngestOptions["onStored"];
  private readonly onRejected: IngestOptions["onRejected"];
  private readonly deviceKeys: DeviceKeys | undefined;
  /** A group-commit flush is already scheduled for the end of this turn. */
  private scheduled = false;
  /** Valid results waiting for a batch, as records (store.ts ResultRecord: rows encoded, message dropped). */
  private results: Waiting<ResultRecord>[] = [];
  /** Valid results from sites with a registered device key, their signatures not yet checked. */
  private unchecked: Waiting<ResultMessage>[] = [];
  /** A checkEvidence is already scheduled for the end of this turn. */
  private evidenceScheduled = false;
  private rejects: Waiting<RejectInput>[] = [];
  /** Writes running (at most writeConcurrency). */
  private readonly lanes = new Set<Promise<void>>();
  private readonly writeConcurrency: number;
  /** After a failed write only the timer retries, so a stream of arrivals cannot hammer a sick store. */
  private failing = false;
  private loop: Promise<void> | undefined;
  private rollupLoop: Promise<void> | undefined;
  private readonly rollupIntervalMs: number;
  private abort: AbortController | undefined;
  private stopped = false;
  private readonly count: IngestCounters = zeroIngestCounters();

  constructor(options: IngestOptions) {
    this.store = options.store;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 20 * (options.batchSize ?? 500);
    this.groupCommit = options.groupCommit ?? false;
    this.onStored = options.onStored;
    this.onRejected = options.onRejected;
    this.deviceKeys = options.deviceKeys;
    this.writeConcurrency = Math.max(1, options.writeConcurrency ?? 3);
    this.rollupIntervalMs = options.rollupIntervalMs ?? 1000;
  }

  /** Start the periodic flush. */
  start(): void {
    if (this.loop || this.stopped) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.every(this.flushIntervalMs, abort.signal, () => this.flush());
    if (this.store.rollup)
      this.rollupLoop = this.every(this.rollupIntervalMs, abort.signal, () => this.rollupOnce());
  }

  /** Stop the periodic flush and write what waits; what still cannot be written settles "unstored". */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
    await this.rollupLoop;
    await this.flush();
    // Leave the rollups current (a report would catch up anyway; this keeps its first read short).
    if (this.store.rollup) await this.rollupOnce();
    const left = [...this.results, ...this.rejects, ...this.unchecked];
    this.results = [];
    this.rejects = [];
    this.unchecked = [];
    for (const w of left) w.settle("unstored");
    if (left.length > 0)
      this.log.error({ unstored: left.length }, "ingest: stopped with messages not stored");
  }

  counters(): Readonly<IngestCounters> {
    return { ...this.count };
  }

  /** Messages waiting to be written. */
  pending(): number {
    return this.results.length + this.rejects.length + this.unchecked.length;
  }

  accept(topic: string, payload: Uint8Array | string): Promise<AcceptOutcome> {
    if (this.stopped || this.pending() >= this.maxPending) {
      this.count.refused += 1;
      return Promise.resolve("unstored");
    }
    const verdict = validateResult(topic, payload);
    return new Promise<AcceptOutcome>((settle) => {
      if (!verdict.ok) {
        this.count.rejected += 1;
        this.log.warn({ topic, reason: verdict.reason }, "ingest: message rejected");
        this.rejects.push({ item: { topic, reason: verdict.reason, raw: payload }, settle });
      } else if (this.deviceKeys?.has(verdict.message.agent.operator, verdict.message.agent.site)) {
        // Its evidence is checked with the rest of this turn's arrivals (checkEvidence), so one
        // signature can cover a run of the agent's results through the hash chain.
        this.unchecked.push({ item: verdict.message, settle, topic, raw: payload });
        this.scheduleEvidence();
        return;
      } else {
        this.count.accepted += 1;
        this.results.push({ item: recordFor(verdict.message, payload), settle, topic, raw: payload });
      }
      this.afterArrival();
    });
  }

  private afterArrival(): void {
    if (this.failing) return;
    // With every lane busy a flush could start nothing (the lanes take what waits when they finish):
    // calling it anyway cost a promise chain per arrival during a backlog.
    if (this.pending() >= this.batchSize) {
      if (this.lanes.size < this.writeConcurrency) void this.flush();
    } else if (this.groupCommit) this.scheduleFlush();
  }

  private scheduleEvidence(): void {
    if (this.evidenceScheduled) return;
    this.evidenceScheduled = true;
    // Like scheduleFlush: after every delivery parsed from the same socket read has been accepted,
    // and before the group commit's flush (scheduled later in the same turn, or by a later arrival).
    setImmediate(() => {
      this.evidenceScheduled = false;
      if (this.checkEvidence()) this.afterArrival();
    });
  }

  /**
   * Check the signatures of the results waiting for it, as one batch (DeviceKeys.checkBatch: one
   * Ed25519 verification per unbroken run of an agent's chain). What verifies joins the results to
   * store; the rest goes to rejects. A result refused for its evidence is NOT decided: what arrived is
   * not what the agent sealed (a relay could otherwise make agents delete genuine results by altering
   * them), so no receipt covers it and the agent keeps republishing its own copy. True when any moved.
   */
  private checkEvidence(): boolean {
    if (this.unchecked.length === 0 || !this.deviceKeys) return false;
    const waiting = this.unchecked;
    this.unchecked = [];
    const reasons = this.deviceKeys.checkBatch(waiting.map((w) => w.item));
    waiting.forEach((w, i) => {
      const reason = reasons[i];
      if (reason === null || reason === undefined) {
        this.count.accepted += 1;
        this.results.push({ ...w, item: recordFor(w.item, w.raw ?? messageJson(w.item)) });
        return;
      }
      this.count.rejected += 1;
      this.log.warn({ topic: w.topic, reason }, "ingest: message rejected");
      this.rejects.push({ item: { topic: w.topic ?? "", reason, raw: w.raw ?? "" }, settle: w.settle });
    });
    return true;
  }

  private scheduleFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks and nextTicks of this turn: every delivery parsed
    // from the same socket read has been accepted by then.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /**
   * Write everything waiting, in batches of at most batchSize, up to `writeConcurrency` batches at
   * once (each in its own transaction on its own connection). Resolves when nothing waits, or when a
   * write failed (the timer's next flush tries again). Never rejects.
   */
  flush(): Promise<void> {
    // A flush (the timer's, stop's, or an arrival's) is a retry after a failed write.
    this.failing = false;
    this.checkEvidence();
    while (this.lanes.size < this.writeConcurrency && this.results.length + this.rejects.length > 0) {
      const lane: Promise<void> = this.lane().finally(() => this.lanes.delete(lane));
      this.lanes.add(lane);
    }
    return this.idle();
  }

  /** Resolves when no write is running (lanes started meanwhile included). */
  private async idle(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes]);
  }

  /**
   * One writer: batch after batch until nothing waits or a write fails. Two lanes keep PostgreSQL
   * busy while the other's transaction commits (WAL flush) or its results travel; concurrent
   * transactions take their row locks in key order (sql-store.ts, windows-sql.ts), as concurrent
   * collectors on one database do.
   */
  private async lane(): Promise<void> {
    for (;;) {
      // Arrivals whose evidence is not checked yet (this very turn's) go into this write too.
      this.checkEvidence();
      if (this.failing || this.results.length + this.rejects.length === 0) return;
      if (!(await this.write())) return;
    }
  }

  /** Take one batch and write it; false when the store failed (the batch is back in front). */
  private async write(): Promise<boolean> {
    const results = this.results.splice(0, this.batchSize);
    const rejects = this.rejects.splice(0, this.batchSize - results.length);
    try {
      if (results.length > 0) {
        const started = performance.now();
        const report = await this.store.insertResults(results.map((w) => w.item));
        const ms = Math.round(performance.now() - started);
        this.count.stored += report.inserted;
        this.count.duplicates += report.duplicates;
        // A second result claiming a stored interval under another id, or one PostgreSQL cannot hold (a
        // count beyond integer): kept as a reject, with why; the rest of the batch is stored.
        const refused = new Map(report.refused.map((r) => [r.id, r.reason]));
        if (refused.size > 0) {
          const claims = results.filter((w) => refused.has(w.item.id));
          await this.store.insertRejects(
            claims.map((w) => ({
              topic: w.topic ?? "",
              reason: refused.get(w.item.id) ?? "",
              raw: w.raw ?? "",
              agent: agentSeq(w.item),
            })),
          );
          this.notifyRejected(claims.map((w) => agentSeq(w.item)));
          this.count.rejected += claims.length;
          this.log.warn(
            { refused: claims.length, reason: report.refused[0]?.reason },
            "ingest: results refused by the store (an interval claimed twice, or a value PostgreSQL cannot hold)",
          );
        }
        for (const w of results) w.settle(refused.has(w.item.id) ? "rejected" : "stored");
        this.notifyStored(
          results.filter((w) => !refused.has(w.item.id)).map((w) => w.item),
          { ms },
        );
        results.length = 0;
      }
      if (rejects.length > 0) {
        await this.store.insertRejects(rejects.map((w) => w.item));
        for (const w of rejects) w.settle("rejected");
        this.notifyRejected(rejects.flatMap((w) => (w.item.agent ? [w.item.agent] : [])));
      }
    } catch (err) {
      // Put the batch back in front, in order; the next flush tries again.
      this.results.unshift(...results);
      this.rejects.unshift(...rejects);
      this.count.store_errors += 1;
      this.failing = true;
      this.log.warn({ err: (err as Error).message, waiting: this.pending() }, "ingest: store write failed");
      return false;
    }
    return true;
  }

  private notifyRejected(agents: ReadonlyArray<NonNullable<RejectInput["agent"]>>): void {
    if (agents.length === 0) return;
    try {
      this.onRejected?.(agents);
    } catch (err) {
      this.log.error({ err }, "ingest: onRejected hook threw");
    }
  }

  private notifyStored(msgs: readonly ResultHead[], batch: StoredBatch): void {
    try {
      this.onStored?.(msgs, batch);
    } catch (err) {
      this.log.error({ err }, "ingest: onStored hook threw");
    }
  }

  /** One catch-up pass; a failure is logged and the queue simply waits for the next pass. Never rejects. */
  private async rollupOnce(): Promise<void> {
    try {
      this.count.rolled_up += (await this.store.rollup?.()) ?? 0;
    } catch (err) {
      this.count.rollup_errors += 1;
      this.log.error(
        { err: err instanceof Error ? err.message : String(err), rollup_errors: this.count.rollup_errors },
        "ingest: rollup pass failed; stored results wait in rollup_queue and reports fail until a pass succeeds",
      );
    }
  }

  /** `fn` every `intervalMs` until `signal` aborts (the group-commit flush, the rollup catch-up pass). */
  private async every(intervalMs: number, signal: AbortSignal, fn: () => Promise<unknown>): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
      await fn();
    }
  }
}
