import { EventEmitter } from "node:events";
import { type Clock, systemClock } from "../clock.js";
import { QosProbeError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  encodeFrame,
  encodePublishedBody,
  encodeRecordBody,
  encodeRemovalBody,
  FRAME_HEADER_BYTES,
  type OutboxRecord,
  type RemovalKind,
} from "./outbox-codec.js";
import { SegmentStore } from "./outbox-store.js";
import type {
  OutboxDropEvent,
  OutboxEvents,
  OutboxOpenReport,
  OutboxOptions,
  OutboxPayload,
} from "./outbox-types.js";

export type { OutboxRecord } from "./outbox-codec.js";
export type {
  OutboxDropEvent,
  OutboxEvents,
  OutboxOpenReport,
  OutboxOptions,
  OutboxPayload,
} from "./outbox-types.js";

/**
 * The durable outbox between the runner and MQTT. Ours rather than mqtt.js's store because that one
 * lives in memory and wraps at 65,535 message ids. Layout of `dir`:
 * - `<firstSeq>.seg`: append-only segments of CRC-framed records;
 * - `<firstSeq>.ack`: the removal log of that segment (seqs receipted by the collector, acked by PUBACK
 *   when receipts are off, or dropped by a bound), and the PUBACK marks of records awaiting a receipt;
 * - `state.json`: `{ next_seq, dropped }`, replaced atomically.
 * A segment goes once every record in it is removed and it is no longer the one being appended to.
 * The newest segment is always kept, so the highest seq ever handed out survives any crash.
 *
 * A record is "to publish" until its PUBACK, then "awaiting receipt" until a store receipt covers it
 * (`receipt`) or `requeue` sends it back to "to publish" because no receipt came in time. The PUBACK mark
 * is written to the ack log (it keeps the seq from being reused after a torn tail) but is not replayed as
 * a state: after a restart everything unreceipted is published again, which the store's id dedupe makes safe.
 */

interface LiveRecord {
  record: OutboxRecord;
  segment: number;
  bytes: number;
  /** Wall clock (epoch ms) of its PUBACK while awaiting a receipt; null while to publish. */
  pubackAt: number | null;
}

interface PendingAppend {
  record: OutboxRecord;
  frame: Buffer;
  resolve: (seq: number) => void;
  reject: (error: unknown) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;

function ioError(message: string, cause: unknown): QosProbeError {
  return new QosProbeError("OUTBOX_IO", message, {
    cause,
    hint: "check that the outbox directory is writable and not full",
  });
}

export class Outbox extends EventEmitter<OutboxEvents> {
  private readonly options: OutboxOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly store: SegmentStore;
  /** Undelivered records in seq order (a Map keeps insertion order, and seqs are appended ascending). */
  private readonly records = new Map<number, LiveRecord>();
  /** The records not yet PUBACKed (or sent back by `requeue`), in seq order: what `peek` hands out. */
  private toPublish = new Map<number, LiveRecord>();
  /** PUBACKed records awaiting a receipt, in PUBACK order (so `requeue` stops at the first young one). */
  private readonly awaiting = new Map<number, LiveRecord>();
  /** Undelivered-record count per segment, keyed by the segment's first seq, ascending. */
  private readonly segments = new Map<number, { live: number }>();
  private liveBytes = 0;
  private seqCounter = 1;
  private droppedTotal = 0;
  private appendFailedTotal = 0;
  private phase: "new" | "open" | "closing" | "closed" = "new";
  private pendingAppends: PendingAppend[] = [];
  /** Frames for the ack logs (removals and PUBACK marks), keyed by segment. */
  private pendingRemovals = new Map<number, Buffer[]>();
  private removalWaiters: Waiter[] = [];
  private stateDirty = false;
  private loopRunning = false;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(options: OutboxOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.store = new SegmentStore(options.dir, options.segment_bytes ?? DEFAULT_SEGMENT_BYTES, this.log);
  }

  /** Replay what is on disk (repairing torn writes) and apply the bounds to it. */
  async open(): Promise<OutboxOpenReport> {
    if (this.phase !== "new") throw new QosProbeError("USAGE", "outbox already opened");
    const { dir, max_bytes, max_age_ms, segment_bytes = DEFAULT_SEGMENT_BYTES } = this.options;
    for (const [name, value] of Object.entries({ max_bytes, max_age_ms, segment_bytes })) {
      if (!Number.isFinite(value) || value <= 0) {
        throw new QosProbeError("USAGE", `outbox ${name} must be a positive number, got ${value}`);
      }
    }
    let torn: { torn: number; torn_bytes: number };
    try {
      const replay = await this.store.load();
      for (const segment of replay.segments) {
        this.segments.set(segment.firstSeq, { live: 0 });
        for (const record of segment.records) this.addLive(record, segment.firstSeq);
      }
      this.seqCounter = Math.max(replay.state.next_seq, replay.maxSeq + 1, 1);
      this.droppedTotal = replay.state.dropped;
      torn = { torn: replay.torn, torn_bytes: replay.torn_bytes };
      await this.store.writeState(this.persistedState());
    } catch (error) {
      throw ioError(`cannot open outbox in ${dir}: ${(error as Error).message}`, error);
    }
    this.phase = "open";
    const replayed = this.records.size;
    this.enforceBounds();
    const report = { replayed, ...torn, next_seq: this.seqCounter, dropped: this.droppedTotal };
    this.log.info({ dir, ...report, depth: this.records.size }, "outbox opened");
    return report;
  }

  /**
   * Assign the next agent sequence number, write the record and fsync it; resolves with the seq once
   * the record is durable (and only then visible to `peek`). Appends that arrive together share an fsync.
   */
  async append(topic: string, payload: OutboxPayload): Promise<number> {
    this.assertOpen();
    const seq = this.seqCounter++;
    let record: OutboxRecord;
    let frame: Buffer;
    try {
      if (Buffer.byteLength(topic) > 0xffff)
        throw new QosProbeError("USAGE", "outbox topic longer than 65535 bytes");
      record = {
        seq,
        topic,
        payload: typeof payload === "function" ? payload(seq) : payload,
        enqueued_at: this.clock.now(),
      };
      frame = encodeFrame(encodeRecordBody(record));
      if (frame.length > this.options.max_bytes) {
        throw new QosProbeError(
          "USAGE",
          `record of ${frame.length} bytes exceeds outbox max_bytes ${this.options.max_bytes}`,
        );
      }
    } catch (error) {
      // Nothing else ran since the seq was taken (this is synchronous), so giving it back leaves no gap.
      this.seqCounter = seq;
      throw error;
    }
    return new Promise<number>((resolve, reject) => {
      this.pendingAppends.push({ record, frame, resolve, reject });
      this.kick();
    });
  }

  /** The oldest `n` records to publish (not awaiting a receipt), after dropping any past `max_age_ms`. */
  peek(n: number): readonly OutboxRecord[] {
    this.assertOpen();
    this.enforceBounds();
    const out: OutboxRecord[] = [];
    if (n <= 0) return out;
    for (const live of this.toPublish.values()) {
      out.push(live.record);
      if (out.length >= n) break;
    }
    return out;
  }

  /**
   * Remove `seq` on its PUBACK (receipts off: the PUBACK is all the proof there is); resolves once that
   * is on disk. Unknown or already removed seqs are ignored.
   */
  ack(seq: number): Promise<void> {
    const live = this.records.get(seq);
    // After close a late PUBACK is ignored: that only means one duplicate after the next start.
    if (!live || this.phase === "closed") return Promise.resolve();
    this.removeLive(live, "acked");
    return this.whenWritten();
  }

  /**
   * The broker PUBACKed `seq` (receipts required): it moves from "to publish" to "awaiting receipt" and
   * its PUBACK mark goes to the ack log. Resolves once the mark is on disk; unknown seqs are ignored.
   */
  published(seq: number): Promise<void> {
    const live = this.records.get(seq);
    if (!live || this.phase === "closed" || live.pubackAt !== null) return Promise.resolve();
    this.toPublish.delete(seq);
    live.pubackAt = this.clock.now();
    this.awaiting.set(seq, live);
    this.queueLogFrame(live.segment, encodePublishedBody(seq));
    return this.whenWritten();
  }

  /**
   * Apply a store receipt: every record whose seq is ≤ `contiguousThrough` or inside one of `ranges`
   * (inclusive `[first, last]` pairs) is in the collector's store, and is removed whatever its state.
   * Resolves with the number removed once the removals are on disk.
   */
  async receipt(contiguousThrough: number, ranges: readonly (readonly [number, number])[]): Promise<number> {
    if (this.phase !== "open") return 0;
    const covered: LiveRecord[] = [];
    // `records` is in seq order: the contiguous part is a prefix.
    for (const live of this.records.values()) {
      if (live.record.seq > contiguousThrough) break;
      covered.push(live);
    }
    for (const [first, last] of ranges) {
      if (last - first < this.records.size) {
        for (let seq = Math.max(first, contiguousThrough + 1); seq <= last; seq++) {
          const live = this.records.get(seq);
          if (live) covered.push(live);
        }
      } else {
        for (const live of this.records.values())
          if (live.record.seq >= first && live.record.seq <= last && live.record.seq > contiguousThrough)
            covered.push(live);
      }
    }
    let removed = 0;
    for (const live of covered) {
      if (!this.records.has(live.record.seq)) continue; // overlapping ranges
      this.removeLive(live, "receipted");
      removed += 1;
    }
    if (removed > 0) await this.whenWritten();
    return removed;
  }

  /**
   * Send records PUBACKed at least `olderThanMs` ago and still not receipted back to "to publish"
   * (the collector may never have stored them). Returns how many; the caller then pumps the publisher.
   */
  requeue(olderThanMs: number): number {
    if (this.phase !== "open") return 0;
    const now = this.clock.now();
    let moved = 0;
    for (const live of this.awaiting.values()) {
      if (live.pubackAt === null || now - live.pubackAt < olderThanMs) break;
      this.awaiting.delete(live.record.seq);
      live.pubackAt = null;
      moved += 1;
    }
    if (moved > 0) {
      // Back into seq order, oldest first, with what was already waiting to be published.
      const merged = [...this.records.values()].filter((live) => live.pubackAt === null);
      this.toPublish = new Map(merged.map((live) => [live.record.seq, live]));
    }
    return moved;
  }

  /**
   * A receipt says the store holds `seq`: if that is one we have not handed out yet, this outbox lost
   * its tail (or was wiped) after those seqs left the machine. Move the counter past it so no seq is
   * handed out twice from now on.
   */
  noteStoredSeq(seq: number): void {
    if (this.phase !== "open" || seq < this.seqCounter) return;
    this.log.error(
      { stored_seq: seq, next_seq: this.seqCounter },
      "the store holds a seq this outbox has not handed out (torn or wiped outbox?): skipping past it",
    );
    this.seqCounter = seq + 1;
    this.stateDirty = true;
    this.kick();
  }

  /** Records kept until receipted: to publish plus awaiting receipt. */
  depth(): number {
    return this.records.size;
  }

  /** PUBACKed records that no receipt has covered yet. */
  awaitingReceipt(): number {
    return this.awaiting.size;
  }

  /** Appends that failed on disk (each also counted in `dropped`). */
  appendFailed(): number {
    return this.appendFailedTotal;
  }

  /** Encoded bytes of the undelivered backlog (what `max_bytes` bounds). */
  bytes(): number {
    return this.liveBytes;
  }

  dropped(): number {
    return this.droppedTotal;
  }

  nextSeq(): number {
    return this.seqCounter;
  }

  /** Finish pending writes, persist the state and close files. */
  async close(): Promise<void> {
    if (this.phase !== "open") return;
    this.phase = "closing";
    while (this.loopRunning) await this.loopDone;
    this.phase = "closed";
    try {
      await this.store.writeState(this.persistedState());
    } finally {
      await this.store.close();
    }
  }

  private assertOpen(): void {
    if (this.phase !== "open") throw new QosProbeError("USAGE", `outbox is ${this.phase}, not open`);
  }

  private persistedState() {
    return { next_seq: this.seqCounter, dropped: this.droppedTotal };
  }

  /** A throwing listener must not fail the writer loop (and with it appends that are already durable). */
  private safeEmit<K extends keyof OutboxEvents>(event: K, ...args: OutboxEvents[K]): void {
    try {
      (this.emit as (event: K, ...rest: OutboxEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.log.error({ err: error, event }, "outbox event listener threw");
    }
  }

  private addLive(record: OutboxRecord, segment: number): void {
    // The frame's size: header + kind, seq, enqueued_at, topic length (19) + topic + payload.
    const bytes = FRAME_HEADER_BYTES + 19 + Buffer.byteLength(record.topic) + record.payload.length;
    const live: LiveRecord = { record, segment, bytes, pubackAt: null };
    this.records.set(record.seq, live);
    this.toPublish.set(record.seq, live);
    this.liveBytes += bytes;
    const info = this.segments.get(segment) ?? { live: 0 };
    info.live += 1;
    this.segments.set(segment, info);
  }

  private removeLive(live: LiveRecord, kind: RemovalKind): void {
    this.records.delete(live.record.seq);
    this.toPublish.delete(live.record.seq);
    this.awaiting.delete(live.record.seq);
    this.liveBytes -= live.bytes;
    const info = this.segments.get(live.segment);
    if (info) info.live -= 1;
    this.queueLogFrame(live.segment, encodeRemovalBody(kind, live.record.seq));
  }

  private queueLogFrame(segment: number, body: Buffer): void {
    const frames = this.pendingRemovals.get(segment) ?? [];
    frames.push(encodeFrame(body));
    this.pendingRemovals.set(segment, frames);
  }

  /** Resolves once everything queued for the ack logs so far is on disk. */
  private whenWritten(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.removalWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Drop the oldest records past `max_age_ms` or beyond `max_bytes`: counted, persisted, logged, emitted. */
  private enforceBounds(): void {
    const now = this.clock.now();
    const drops: Record<"max_age" | "max_bytes", number[]> = { max_age: [], max_bytes: [] };
    for (const live of this.records.values()) {
      let reason: "max_age" | "max_bytes" | null = null;
      if (now - live.record.enqueued_at > this.options.max_age_ms) reason = "max_age";
      else if (this.liveBytes > this.options.max_bytes) reason = "max_bytes";
      if (!reason) break;
      this.removeLive(live, "dropped");
      drops[reason].push(live.record.seq);
    }
    for (const reason of ["max_age", "max_bytes"] as const) {
      const seqs = drops[reason];
      const [first, last] = [seqs[0], seqs.at(-1)];
      if (first === undefined || last === undefined) continue;
      this.droppedTotal += seqs.length;
      this.stateDirty = true;
      const event = {
        reason,
        count: seqs.length,
        first_seq: first,
        last_seq: last,
        total: this.droppedTotal,
      };
      this.log.warn(event, "outbox bound exceeded: oldest undelivered records dropped");
      this.safeEmit("dropped", event);
    }
    if (this.stateDirty) this.kick();
  }

  /** One writer loop serialises all disk work and batches whatever queued up while it was busy. */
  private kick(): void {
    if (this.loopRunning) return;
    this.loopRunning = true;
    this.loopDone = this.runLoop();
  }

  private async runLoop(): Promise<void> {
    try {
      while (
        this.pendingAppends.length > 0 ||
        this.pendingRemovals.size > 0 ||
        this.removalWaiters.length > 0 ||
        this.stateDirty
      ) {
        await this.flushOnce();
      }
    } finally {
      // Cleared in the same microtask as the last emptiness check, so a kick() is never lost.
      this.loopRunning = false;
    }
  }

  private async flushOnce(): Promise<void> {
    const appends = this.pendingAppends.splice(0);
    if (appends.length > 0) {
      await this.writeAppends(appends);
      this.enforceBounds();
    }
    if (this.stateDirty) {
      this.stateDirty = false;
      // Before the drop markers: a crash in between replays those records (duplicates), never loses them.
      await this.store
        .writeState(this.persistedState())
        .catch((error: unknown) => this.log.error({ err: error }, "outbox: state write failed"));
    }
    const removals = this.pendingRemovals;
    this.pendingRemovals = new Map();
    const waiters = this.removalWaiters.splice(0);
    try {
      const active = this.store.activeSegment();
      const dead = [...this.segments]
        .filter(([seq, info]) => info.live === 0 && seq !== active)
        .map(([seq]) => seq);
      // A segment about to be deleted needs no removal log.
      for (const seq of dead) removals.delete(seq);
      await this.store.appendRemovals(removals);
      await this.store.deleteSegments(dead);
      for (const seq of dead) this.segments.delete(seq);
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      const wrapped = ioError(`outbox: cannot persist acks: ${(error as Error).message}`, error);
      for (const waiter of waiters) waiter.reject(wrapped);
    }
  }

  private async writeAppends(appends: PendingAppend[]): Promise<void> {
    let done = 0;
    try {
      await this.store.append(
        appends.map((item) => ({ seq: item.record.seq, frame: item.frame })),
        (segment, n) => {
          for (const item of appends.slice(done, done + n)) {
            this.addLive(item.record, segment);
            item.resolve(item.record.seq);
            this.safeEmit("appended", item.record.seq);
          }
          done += n;
        },
      );
    } catch (error) {
      const wrapped = ioError(`outbox: append failed: ${(error as Error).message}`, error);
      const failed = appends.slice(done);
      // A result that never reached the disk is lost: count it as a drop (its seq is not reused, so the
      // collector sees the gap, and the heartbeat's dropped counter explains it).
      this.appendFailedTotal += failed.length;
      this.droppedTotal += failed.length;
      this.stateDirty = true;
      const event: OutboxDropEvent = {
        reason: "append_failed",
        count: failed.length,
        first_seq: failed[0]!.record.seq,
        last_seq: failed.at(-1)!.record.seq,
        total: this.droppedTotal,
      };
      this.log.error({ ...event, err: (error as Error).message }, "outbox append failed: result dropped");
      this.safeEmit("dropped", event);
      for (const item of failed) item.reject(wrapped);
    }
  }
}
