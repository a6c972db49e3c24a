import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "../agent/config/schema.js";
import { resolveSecret } from "../agent/config/secrets.js";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import { collectorSubscription, parseTopic } from "../agent/publish/topics.js";
import type { CollectorConfig } from "./config.js";
import { DeviceKeys } from "./evidence.js";
import { Ingest, type IngestCounters, zeroIngestCounters } from "./ingest.js";
import { ReportServer } from "./report/server.js";
import { parseStatus } from "./status.js";
import type { ResultStore } from "./store/store.js";
import {
  type Disposition,
  IN_FLIGHT,
  MqttSubscriber,
  type SubscriberCounters,
  type SubscriberOptions,
  zeroSubscriberCounters,
} from "./subscriber.js";

export interface CollectorOptions {
  config: CollectorConfig;
  /** Opened (and closed, after stop) by the caller: PostgreSQL or PGlite. The collector migrates it. */
  store: ResultStore;
  log: Logger;
  env?: Record<string, string | undefined>;
  /** How often the counters are logged (default one minute). */
  countersLogMs?: number;
}

/** One MQTT connection of the collector. */
export interface ConnectionCounters {
  client_id: string;
  connected: boolean;
  /** Its subscriptions are granted: results reach it. */
  subscribed: boolean;
  deliveries: number;
}

export interface CollectorCounters extends IngestCounters, SubscriberCounters {
  statuses: number;
  status_rejected: number;
  /** Deliveries on topics that are neither results nor status. */
  unknown_topics: number;
  /** Every MQTT connection is up. */
  connected: boolean;
  pending: number;
  connections: ConnectionCounters[];
}

/**
 * The collector role: MQTT (persistent session, shared subscription) → validate → store, plus the
 * report server. A result is acknowledged to the broker only once stored or recorded as rejected.
 */
export class Collector {
  private readonly options: CollectorOptions;
  private readonly log: Logger;
  private ingest: Ingest | null = null;
  private subscribers: MqttSubscriber[] = [];
  private server: ReportServer | null = null;
  private countersTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly own = { statuses: 0, status_rejected: 0, unknown_topics: 0 };
  private address: AddressInfo | null = null;

  constructor(options: CollectorOptions) {
    this.options = options;
    this.log = options.log;
  }

  /** The report server's address once started (null when http is disabled). */
  get httpAddress(): AddressInfo | null {
    return this.address;
  }

  async start(): Promise<void> {
    const { config, store } = this.options;
    const migration = await store.migrate();
    if (migration.applied.length > 0) this.log.info(migration, "collector: store migrated");
    const ingest = new Ingest({
      store,
      log: this.log,
      batchSize: config.ingest.batch_size,
      flushIntervalMs: config.ingest.flush_interval_ms,
      // Every connection's window may be full at once: that much must fit before anything is refused.
      maxPending: Math.max(20 * config.ingest.batch_size, config.mqtt.connections * IN_FLIGHT),
      // Each delivery's PUBACK waits for its write: write what arrived as soon as the turn ends.
      groupCommit: true,
      deviceKeys: new DeviceKeys(config.sites),
    });
    this.ingest = ingest;
    ingest.start();

    if (config.http.enabled) {
      const listen = parseHostPort(config.http.listen);
      if (!listen) throw new QosProbeError("USAGE", `http.listen ${config.http.listen} is not host:port`);
      this.server = new ReportServer({
        store,
        log: this.log,
        host: listen.host,
        port: listen.port,
        lang: config.report.lang,
        period: config.report.period,
        window_days: config.report.window_days,
        sites: config.sites,
        counters: () => this.counters(),
      });
      this.address = await this.server.start();
    }

    this.subscribers = this.mqttSettings().map(
      (settings) => new MqttSubscriber({ ...settings, handler: (t, p) => this.deliver(t, p) }),
    );
    for (const s of this.subscribers) s.start();
    const every = this.options.countersLogMs ?? 60_000;
    this.countersTimer = setInterval(() => this.log.info(this.counters(), "collector: counters"), every);
    this.countersTimer.unref();
  }

  /** Stop in order: take in nothing new, write what waits (and ack it), end MQTT, stop the server. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.countersTimer) clearInterval(this.countersTimer);
    for (const s of this.subscribers) s.pause();
    await this.ingest?.stop();
    await Promise.all(this.subscribers.map((s) => s.stop()));
    await this.server?.stop();
    this.log.info(this.counters(), "collector: stopped");
  }

  counters(): CollectorCounters {
    const sub = zeroSubscriberCounters();
    const connections: ConnectionCounters[] = [];
    for (const s of this.subscribers) {
      const c = s.counters();
      for (const key of Object.keys(sub) as (keyof SubscriberCounters)[]) sub[key] += c[key];
      connections.push({
        client_id: s.clientId,
        connected: s.connected,
        subscribed: s.subscribed,
        deliveries: c.deliveries,
      });
    }
    return {
      ...(this.ingest?.counters() ?? zeroIngestCounters()),
      ...sub,
      ...this.own,
      connected: connections.length > 0 && connections.every((c) => c.connected),
      pending: this.ingest?.pending() ?? 0,
      connections,
    };
  }

  private async deliver(topic: string, payload: Buffer): Promise<Disposition> {
    const ingest = this.ingest;
    if (!ingest) return "retry";
    const root = this.options.config.mqtt.topic_root;
    const parsed = parseTopic(root, topic);
    if (parsed?.kind === "status") return this.onStatus(topic, parsed, payload);
    if (parsed === null || parsed.kind === "result") {
      // Results (and anything malformed that matched the result filter) go through validation,
      // which records a reason for every refusal.
      // The ingest writes it with whatever else arrived meanwhile (group commit).
      return (await ingest.accept(topic, payload)) === "unstored" ? "retry" : "ack";
    }
    this.own.unknown_topics += 1;
    return "ack";
  }

  private async onStatus(
    topic: string,
    where: { operator: string; province: string; site: string; root: string },
    payload: Buffer,
  ): Promise<Disposition> {
    const store = this.options.store;
    const verdict = parseStatus(where, payload, new Date());
    if (verdict.ok === "empty") return "ack";
    try {
      if (verdict.ok === true) {
        await store.upsertStatus(verdict.status);
        this.own.statuses += 1;
      } else {
        this.own.status_rejected += 1;
        this.log.warn({ topic, reason: verdict.reason }, "collector: status message rejected");
        await store.insertRejects([{ topic, reason: verdict.reason, raw: payload }]);
      }
      return "ack";
    } catch (err) {
      this.log.warn(
        { topic, err: (err as Error).message },
        "collector: status not stored; the broker will redeliver",
      );
      return "retry";
    }
  }

  /**
   * One subscriber per connection. Each is its own share-group member with its own persistent session
   * (client id `<client_id>-<i>`; just `<client_id>` when there is one, as before connections existed).
   * Status topics are not shared, so only the first connection subscribes to them.
   */
  private mqttSettings(): Omit<SubscriberOptions, "handler">[] {
    const m = this.options.config.mqtt;
    const env = this.options.env ?? process.env;
    // MQTT 3.1.1 (the embedded aedes broker) has no shared subscriptions: one collector takes everything.
    const results =
      m.protocol_version === 5
        ? collectorSubscription(m.topic_root, m.share_group)
        : `${m.topic_root}/+/+/+/result/+`;
    const common = {
      url: m.url,
      protocolVersion: m.protocol_version,
      keepaliveS: m.keepalive_s,
      sessionExpiryS: m.session_expiry_s,
      log: this.log,
      ...(m.username ? { username: resolveSecret(m.username, env).toString("utf8") } : {}),
      ...(m.password ? { password: resolveSecret(m.password, env).toString("utf8") } : {}),
      ...(m.tls?.ca_file ? { ca: readFileSync(m.tls.ca_file) } : {}),
      ...(m.tls?.cert_file ? { cert: readFileSync(m.tls.cert_file) } : {}),
      ...(m.tls?.key_file ? { key: readFileSync(m.tls.key_file) } : {}),
    };
    return Array.from({ length: m.connections }, (_, i) => ({
      ...common,
      clientId: m.connections === 1 ? m.client_id : `${m.client_id}-${i}`,
      topics: i === 0 ? [results, `${m.topic_root}/+/+/+/status`] : [results],
    }));
  }
}
