import type { Logger } from "../../agent/log.js";
import type { SiteTopics } from "../../agent/publish/topics.js";
import type { Disposition } from "../ack-window.js";
import type { ResultStore } from "../store/store.js";
import { heartbeatControl, parseConfigAck } from "./messages.js";
import type { ControlPlaneStore } from "./store.js";

/** The collector's subscription to every site's config acks (DESIGN wire contract; not shared: few, small). */
export function configAckSubscription(root: string): string {
  return `${root}/+/+/+/config/ack`;
}

export interface ControlPlaneCounters {
  /** Acks stored (new). */
  config_acks: number;
  /** Acks already stored (a broker redelivery, or another collector on the same database). */
  config_ack_duplicates: number;
  /** Ack payloads refused (kept in rejects with the reason). */
  config_ack_rejected: number;
  /** Heartbeats whose control-plane facts were stored. */
  control_heartbeats: number;
}

export function zeroControlPlaneCounters(): ControlPlaneCounters {
  return { config_acks: 0, config_ack_duplicates: 0, config_ack_rejected: 0, control_heartbeats: 0 };
}

/**
 * The collector's side of the regulator's view: config acks and the heartbeats' control-plane facts go
 * to the store. The collector's delivery dispatch calls in here (collector.ts: one subscription, one
 * dispatch case), so the result ingest path stays as it is. A store failure answers "retry": the broker
 * delivers the message again, and both writes are idempotent.
 */
export class ControlPlaneIngest {
  private readonly store: ControlPlaneStore;
  private readonly rejects: Pick<ResultStore, "insertRejects">;
  private readonly log: Logger;
  private readonly count = zeroControlPlaneCounters();

  constructor(opts: { store: ControlPlaneStore; rejects: Pick<ResultStore, "insertRejects">; log: Logger }) {
    this.store = opts.store;
    this.rejects = opts.rejects;
    this.log = opts.log;
  }

  counters(): ControlPlaneCounters {
    return { ...this.count };
  }

  async onAck(topic: string, where: SiteTopics, payload: Buffer): Promise<Disposition> {
    if (payload.length === 0) return "ack";
    const parsed = parseConfigAck(where, payload);
    try {
      if (!parsed.ok) {
        this.count.config_ack_rejected += 1;
        this.log.warn({ topic, reason: parsed.reason }, "collector: config ack rejected");
        await this.rejects.insertRejects([{ topic, reason: parsed.reason, raw: payload }]);
        return "ack";
      }
      const stored = await this.store.insertConfigAcks([parsed.ack]);
      if (stored === 0) {
        this.count.config_ack_duplicates += 1;
        return "ack";
      }
      this.count.config_acks += 1;
      const a = parsed.ack;
      this.log.info(
        {
          operator: a.operator,
          site: a.site,
          decision: a.decision,
          config_version: a.config_version,
          reason: a.reason,
          live_version: a.live_version,
        },
        "config ack stored",
      );
      return "ack";
    } catch (err) {
      this.log.warn(
        { topic, err: (err as Error).message },
        "collector: config ack not stored; the broker will redeliver",
      );
      return "retry";
    }
  }

  /** An `online` heartbeat's payload, already accepted by collector/status.ts. Throws on store failure. */
  async onHeartbeat(payload: unknown, receivedAt: Date): Promise<void> {
    const facts = heartbeatControl(payload, receivedAt);
    if (!facts) return;
    await this.store.upsertSiteControl(facts);
    this.count.control_heartbeats += 1;
  }
}
