/**
 * What the handler decided about one delivery: "ack" sends the PUBACK (the message is stored, or
 * recorded as rejected); "retry" withholds it, so the broker delivers it again.
 */
export type Disposition = "ack" | "retry";

/** One delivery waiting for its disposition. */
export interface AckSlot {
  readonly messageId: number;
  disposition: Disposition | null;
}

export interface AckWindowOptions {
  /** Deliveries that may wait for their disposition at once. */
  limit: number;
  /** Acknowledge these packet ids, in arrival order (one call per run of settled deliveries). */
  ack: (messageIds: readonly number[]) => void;
  /**
   * The oldest waiting delivery is not to be acknowledged; nothing after it may be acknowledged either
   * (acknowledgements go in arrival order), so the window closes with `unacked` deliveries left.
   */
  refuse: (unacked: number) => void;
}

/**
 * The QoS 1 deliveries of one MQTT connection between arrival and acknowledgement.
 *
 * Deliveries are handled concurrently, so that the ingest can write many in one batch, but
 * acknowledged strictly in arrival order (MQTT 3.1.1 §4.6 and 5.0 §4.6: PUBACKs in the order the
 * PUBLISH packets were received) and each only once its own disposition is known. At most `limit`
 * wait at once: the next delivery is let in (`release`) only when there is room, which pushes back on
 * the broker through TCP whether or not it honours our Receive Maximum (Mosquitto 2.0 does not).
 */
export class AckWindow {
  private readonly options: AckWindowOptions;
  private slots: AckSlot[] = [];
  /** Index of the oldest unacknowledged slot: a moving head instead of Array.shift per ack. */
  private head = 0;
  private held: (() => void) | null = null;
  private paused = false;
  private closed = false;

  constructor(options: AckWindowOptions) {
    this.options = options;
  }

  /** Deliveries waiting for a disposition or for an earlier one to be acknowledged. */
  get size(): number {
    return this.slots.length - this.head;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Take a delivery. `release` lets the transport hand over the next one: called now when there is
   * room, else once enough earlier deliveries are acknowledged. Returns the slot to `settle`.
   */
  add(messageId: number, release: () => void): AckSlot {
    const slot: AckSlot = { messageId, disposition: null };
    if (this.closed) return slot;
    this.slots.push(slot);
    if (this.hasRoom()) release();
    else this.held = release;
    return slot;
  }

  /** Record a disposition; acknowledge every settled delivery at the front, in order. */
  settle(slot: AckSlot, disposition: Disposition): void {
    if (this.closed) return;
    slot.disposition = disposition;
    const ids: number[] = [];
    let refused = false;
    while (this.head < this.slots.length) {
      const first = this.slots[this.head];
      if (!first || first.disposition === null) break;
      if (first.disposition === "retry") {
        refused = true;
        break;
      }
      ids.push(first.messageId);
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    if (ids.length > 0) this.options.ack(ids);
    if (refused) {
      const unacked = this.size;
      this.close();
      this.options.refuse(unacked);
      return;
    }
    this.releaseHeld();
  }

  /** Take no new deliveries (shutdown): the held one stays held; settled ones are still acknowledged. */
  pause(): void {
    this.paused = true;
  }

  /** The connection is gone: forget everything; later dispositions are ignored. */
  close(): void {
    this.closed = true;
    this.slots = [];
    this.head = 0;
    // Never released: nothing more is read from a dead connection; the broker redelivers it.
    this.held = null;
  }

  private hasRoom(): boolean {
    return !this.paused && this.size < this.options.limit;
  }

  private releaseHeld(): void {
    const release = this.held;
    if (!release || !this.hasRoom()) return;
    this.held = null;
    release();
  }
}
