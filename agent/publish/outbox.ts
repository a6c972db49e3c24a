import { EventEmitter } from "node:events";
import { type Clock, systemClock } from "../clock.js";
import { QosProbeError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  encodeFrame,
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
 * - `<firstSeq>.ack`: the removal log of that segment (seqs acked by PUBACK or dropped by a bound);
 * - `state.json`: `{ next_seq, dropped }`, replaced atomically.
 * A segment goes once every record in it is removed and it is no longer the one being appended to.
 * The newest segment is always kept, so the highest seq ever handed out survives any crash.
 */

interface LiveRecord {
  record: OutboxRecord;
  segment: number;
  bytes: number;
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
  /** Undelivered-record count per segment, keyed by the segment's first seq, ascending. */
  private readonly segments = new Map<number, { live: number }>();
  private liveBytes = 0;
  private seqCounter = 1;
  private droppedTotal = 0;
  private phase: "new" | "open" | "closing" | "closed" = "new";
  private pendingAppends: PendingAppend[] = [];
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

  /** The oldest `n` undelivered records, after dropping any past `max_age_ms`. */
  peek(n: number): readonly OutboxRecord[] {
    this.assertOpen();
    this.enforceBounds();
    const out: OutboxRecord[] = [];
    if (n <= 0) return out;
    for (const live of this.records.values()) {
      out.push(live.record);
      if (out.length >= n) break;
    }
    return out;
  }

  /** Mark `seq` delivered; resolves once that is on disk. Unknown or already removed seqs are ignored. */
  ack(seq: number): Promise<void> {
    const live = this.records.get(seq);
    // After close a late PUBACK is ignored: that only means one duplicate after the next start.
    if (!live || this.phase === "closed") return Promise.resolve();
    this.removeLive(live, "acked");
    return new Promise<void>((resolve, reject) => {
      this.removalWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  depth(): number {
    return this.records.size;
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
    this.records.set(record.seq, { record, segment, bytes });
    this.liveBytes += bytes;
    const info = this.segments.get(segment) ?? { live: 0 };
    info.live += 1;
    this.segments.set(segment, info);
  }

  private removeLive(live: LiveRecord, kind: RemovalKind): void {
    this.records.delete(live.record.seq);
    this.liveBytes -= live.bytes;
    const info = this.segments.get(live.segment);
    if (info) info.live -= 1;
    const frames = this.pendingRemovals.get(live.segment) ?? [];
    frames.push(encodeFrame(encodeRemovalBody(kind, live.record.seq)));
    this.pendingRemovals.set(live.segment, frames);
  }

  /** Drop the oldest records past `max_age_ms` or beyond `max_bytes`: counted, persisted, logged, emitted. */
  private enforceBounds(): void {
    const now = this.clock.now();
    const drops: Record<OutboxDropEvent["reason"], number[]> = { max_age: [], max_bytes: [] };
    for (const live of this.records.values()) {
      let reason: OutboxDropEvent["reason"] | null = null;
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
      for (const item of appends.slice(done)) item.reject(wrapped);
    }
  }
}
