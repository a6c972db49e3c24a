import * as z from "zod";
import type { Logger } from "../log.js";
import type { Outbox } from "./outbox.js";

/**
 * Store receipts (wire contract, DESIGN.md): after results are committed, a collector publishes on
 * `{root}/{operator}/{province}/{site}/receipt`, QoS 1, not retained:
 *
 *   { "schema": "qosprobe.receipt/1", "operator": "…", "province": "…", "site": "…",
 *     "contiguous_through": 1234,            // every seq 1..1234 of this agent is in the store (0: none)
 *     "ranges": [[1240, 1250], [1300, 1301]],// more stored seqs above it: inclusive, ascending, disjoint
 *     "at": "2026-11-30T14:00:00.000Z" }      // when the collector read the store
 *
 * Computed from the store, not from one collector's memory, so any collector sharing the database may
 * answer, and a repeated or late receipt is harmless (it only ever says what is stored). A PUBACK proves
 * only that the broker took a result; the agent deletes a result when a receipt covers it.
 */
export const RECEIPT_SCHEMA_ID = "qosprobe.receipt/1";

/** Ranges in one receipt at most: the message stays small even for an agent with many gaps. */
export const MAX_RECEIPT_RANGES = 512;

const Seq = z.number().int().min(0);

export const ReceiptMessage = z
  .looseObject({
    schema: z.literal(RECEIPT_SCHEMA_ID),
    operator: z.string().min(1),
    province: z.string().min(1),
    site: z.string().min(1),
    contiguous_through: Seq,
    ranges: z
      .array(z.tuple([Seq, Seq]).refine(([a, b]) => a <= b, "a range is [first, last] with first ≤ last"))
      .max(MAX_RECEIPT_RANGES),
    at: z.iso.datetime({ offset: true }),
  })
  .superRefine((m, ctx) => {
    let floor = m.contiguous_through;
    for (const [first, last] of m.ranges) {
      if (first <= floor) {
        ctx.addIssue({
          code: "custom",
          message: "ranges must be ascending, disjoint and above contiguous_through",
        });
        return;
      }
      floor = last;
    }
  });
export type ReceiptMessage = z.infer<typeof ReceiptMessage>;

export type ReceiptParse = { ok: true; receipt: ReceiptMessage } | { ok: false; reason: string };

/** Parse a receipt delivery for agent `site`; a receipt naming another agent is refused. */
export function parseReceipt(
  payload: Buffer,
  own: { operator: string; province: string; site: string },
): ReceiptParse {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: `receipt: invalid JSON: ${(err as Error).message}` };
  }
  const parsed = ReceiptMessage.safeParse(body);
  if (!parsed.success) return { ok: false, reason: `receipt: ${z.prettifyError(parsed.error)}` };
  for (const field of ["operator", "province", "site"] as const) {
    if (parsed.data[field] !== own[field])
      return {
        ok: false,
        reason: `receipt: for ${field} ${parsed.data[field]}, this agent is ${own[field]}`,
      };
  }
  return { ok: true, receipt: parsed.data };
}

/** Islands of stored seqs (ascending, inclusive) → the receipt's contiguous part and ranges above it. */
export function receiptCoverage(islands: readonly (readonly [number, number])[]): {
  contiguous_through: number;
  ranges: [number, number][];
} {
  let contiguous = 0;
  const ranges: [number, number][] = [];
  for (const [first, last] of islands) {
    if (ranges.length === 0 && first <= contiguous + 1) contiguous = Math.max(contiguous, last);
    else ranges.push([first, last]);
  }
  if (ranges.length > MAX_RECEIPT_RANGES) {
    // Keep the oldest and the newest: old gaps are what a long-offline agent republishes, new ones
    // what it publishes now. What falls out is republished and covered by a later receipt.
    const half = MAX_RECEIPT_RANGES / 2;
    return { contiguous_through: contiguous, ranges: [...ranges.slice(0, half), ...ranges.slice(-half)] };
  }
  return { contiguous_through: contiguous, ranges };
}

/** Subset of the publisher the receipts need: messages on the subscribed receipt topic, and a pump. */
export interface ReceiptSource {
  on(event: "message", listener: (topic: string, payload: Buffer) => void): unknown;
  off(event: "message", listener: (topic: string, payload: Buffer) => void): unknown;
  nudge(): void;
  counters(): { acked: number };
}

export interface AgentReceiptsOptions {
  outbox: Outbox;
  source: ReceiptSource;
  topic: string;
  own: { operator: string; province: string; site: string };
  /** A PUBACKed record not receipted within this long is published again (ms). */
  timeout_ms: number;
  log: Logger;
  now?: () => number;
}

export interface ReceiptCounters {
  receipts: number;
  /** Records deleted because a receipt covered them. */
  receipted: number;
  /** Records sent back to publishing because no receipt came in time. */
  republished: number;
  rejected: number;
  /** Wall clock of the last valid receipt (null: none since start). */
  last_at: string | null;
  /**
   * PUBACKs keep coming but no receipt for a whole timeout: the collector is too old, or not storing.
   * Results are kept and republished meanwhile; `outbox.receipts: off` is the switch for old collectors.
   */
  missing: boolean;
}

/**
 * The agent's half of store receipts: apply each receipt to the outbox, and on a timer send records
 * PUBACKed but never receipted back to publishing. Also warns (once per episode) when receipts are
 * missing altogether, so an agent against a collector without receipts is never silently growing.
 */
export class AgentReceipts {
  private readonly o: AgentReceiptsOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private lastAt: number | null = null;
  private startedAt = 0;
  private ackedAtLastReceipt = 0;
  private warned = false;
  private readonly count = { receipts: 0, receipted: 0, republished: 0, rejected: 0 };

  constructor(options: AgentReceiptsOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.startedAt = this.now();
    this.o.source.on("message", this.onMessage);
    // Check a few times per timeout, so a record waits at most ~1.25 timeouts before it is sent again.
    const every = Math.max(250, Math.min(this.o.timeout_ms / 4, 15_000));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    this.o.source.off("message", this.onMessage);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  counters(): ReceiptCounters {
    return {
      ...this.count,
      last_at: this.lastAt === null ? null : new Date(this.lastAt).toISOString(),
      missing: this.receiptsMissing(),
    };
  }

  private receiptsMissing(): boolean {
    const since = this.lastAt ?? this.startedAt;
    const ackedSince = this.o.source.counters().acked - this.ackedAtLastReceipt;
    return ackedSince > 0 && this.now() - since > this.o.timeout_ms && this.o.outbox.awaitingReceipt() > 0;
  }

  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (topic !== this.o.topic) return;
    const parsed = parseReceipt(payload, this.o.own);
    if (!parsed.ok) {
      this.count.rejected += 1;
      this.o.log.warn({ topic, reason: parsed.reason }, "store receipt rejected");
      return;
    }
    const r = parsed.receipt;
    this.count.receipts += 1;
    this.lastAt = this.now();
    this.ackedAtLastReceipt = this.o.source.counters().acked;
    if (this.warned) {
      this.warned = false;
      this.o.log.info("store receipts arrive again");
    }
    this.o.outbox.noteStoredSeq(Math.max(r.contiguous_through, r.ranges.at(-1)?.[1] ?? 0));
    this.o.outbox
      .receipt(r.contiguous_through, r.ranges)
      .then((removed) => {
        this.count.receipted += removed;
        this.o.log.debug(
          { contiguous_through: r.contiguous_through, ranges: r.ranges.length, removed },
          "store receipt applied",
        );
        this.o.source.nudge();
      })
      .catch((err: unknown) =>
        // The records stay and are published again: duplicates the store ignores, not a loss.
        this.o.log.error({ err }, "store receipt not persisted"),
      );
  };

  private sweep(): void {
    const moved = this.o.outbox.requeue(this.o.timeout_ms);
    if (moved > 0) {
      this.count.republished += moved;
      this.o.log.info(
        { records: moved, timeout_ms: this.o.timeout_ms },
        "PUBACKed results without a store receipt: publishing them again",
      );
      this.o.source.nudge();
    }
    if (!this.warned && this.receiptsMissing()) {
      this.warned = true;
      this.o.log.warn(
        { last_receipt: this.counters().last_at, awaiting_receipt: this.o.outbox.awaitingReceipt() },
        "no store receipts from the collector: results are kept and republished. An old collector " +
          "sends none: upgrade it, or set outbox.receipts: off to delete on PUBACK",
      );
    }
  }
}
