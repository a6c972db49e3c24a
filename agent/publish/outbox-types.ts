import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** The outbox's public option, report and event types. */

export interface OutboxOptions {
  dir: string;
  /** Bound on the undelivered backlog in encoded bytes; beyond it the oldest records are dropped. */
  max_bytes: number;
  /** Records older than this (by wall clock at append) are dropped. */
  max_age_ms: number;
  /** Segment size before a new one is started (default 4 MiB). */
  segment_bytes?: number;
  clock?: Clock;
  log?: Logger;
}

export interface OutboxOpenReport {
  /** Undelivered records found on disk. */
  replayed: number;
  /** Damaged regions (torn tails, garbage) found and cut out of segment and ack files. */
  torn: number;
  torn_bytes: number;
  next_seq: number;
  dropped: number;
}

export interface OutboxDropEvent {
  /** A bound, or an append the disk refused (full, EIO): the record never became durable. */
  reason: "max_bytes" | "max_age" | "append_failed";
  count: number;
  first_seq: number;
  last_seq: number;
  /** The persisted running total after this drop. */
  total: number;
}

export interface OutboxEvents {
  appended: [seq: number];
  dropped: [event: OutboxDropEvent];
}

/** The payload itself, or a function that builds it once the record's seq is known. */
export type OutboxPayload = Buffer | ((seq: number) => Buffer);
