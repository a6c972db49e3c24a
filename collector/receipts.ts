import type { Logger } from "../agent/log.js";
import { RECEIPT_SCHEMA_ID, type ReceiptMessage, receiptCoverage } from "../agent/publish/receipts.js";
import { receiptTopic } from "../agent/publish/topics.js";
import type { ResultHead, ResultStore } from "./store/store.js";

/**
 * The collector's half of store receipts (wire contract in agent/publish/receipts.ts): after results
 * are committed, tell each agent concerned what of its seqs the store holds. Coalesced: an agent whose
 * results were stored is marked, and every `interval_ms` each marked agent gets one receipt, computed
 * from the store (so any collector sharing the database answers correctly, and a lost or repeated
 * receipt is repaired by the next). A status heartbeat marks its agent too, so an agent that reconnects
 * learns at once what it may delete.
 */

export interface CollectorReceiptsOptions {
  store: ResultStore;
  /** QoS 1 publish on one of the collector's connections; rejects when none is connected. */
  publish: (topic: string, payload: Buffer) => Promise<void>;
  topicRoot: string;
  /** Coalescing interval, ms (default 1000). */
  intervalMs?: number;
  log: Logger;
}

export interface ReceiptCounters {
  receipts_sent: number;
  /** Receipts not sent (store or broker unavailable); the agent stays marked and is tried again. */
  receipt_errors: number;
}

/** A receipt whose PUBACK does not come (connection lost mid-way) is given up and sent again later. */
const PUBLISH_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no PUBACK within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

interface AgentRef {
  operator: string;
  province: string;
  site: string;
}

export class CollectorReceipts {
  private readonly o: CollectorReceiptsOptions;
  private readonly log: Logger;
  private dirty = new Map<string, AgentRef>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private readonly count: ReceiptCounters = { receipts_sent: 0, receipt_errors: 0 };

  constructor(options: CollectorReceiptsOptions) {
    this.o = options;
    this.log = options.log;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.flush());
    }, this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stop the timer and send what is still marked (best effort: a later receipt covers the rest). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.flush();
  }

  counters(): ReceiptCounters {
    return { ...this.count };
  }

  /** Results were committed: their agents get a receipt at the next tick. */
  noteStored(msgs: readonly ResultHead[]): void {
    for (const m of msgs) this.mark(m.agent);
  }

  /** A heartbeat came: the agent (maybe just reconnected) gets a receipt at the next tick. */
  noteAgent(agent: AgentRef): void {
    this.mark(agent);
  }

  private mark(a: AgentRef): void {
    const key = `${a.operator}/${a.province}/${a.site}`;
    if (!this.dirty.has(key))
      this.dirty.set(key, { operator: a.operator, province: a.province, site: a.site });
  }

  /** One receipt per marked agent. */
  async flush(): Promise<void> {
    const agents = [...this.dirty.values()];
    this.dirty = new Map();
    for (const agent of agents) {
      try {
        const message = await this.receiptFor(agent);
        const topic = receiptTopic({ root: this.o.topicRoot, ...agent });
        await withTimeout(this.o.publish(topic, Buffer.from(JSON.stringify(message))), PUBLISH_TIMEOUT_MS);
        this.count.receipts_sent += 1;
      } catch (err) {
        this.count.receipt_errors += 1;
        this.mark(agent);
        this.log.warn({ err: (err as Error).message, site: agent.site }, "store receipt not sent; retrying");
      }
    }
  }

  async receiptFor(agent: AgentRef): Promise<ReceiptMessage> {
    const islands = await this.o.store.storedSeqs({ operator: agent.operator, site: agent.site });
    return {
      schema: RECEIPT_SCHEMA_ID,
      operator: agent.operator,
      province: agent.province,
      site: agent.site,
      ...receiptCoverage(islands),
      at: new Date().toISOString(),
    };
  }
}
