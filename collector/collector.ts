import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "../agent/config/schema.js";
import { resolveSecret } from "../agent/config/secrets.js";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import { collectorSubscription, parseTopic } from "../agent/publish/topics.js";
import type { CollectorConfig } from "./config.js";
import { Ingest, type IngestCounters } from "./ingest.js";
import { ReportServer } from "./report/server.js";
import { parseStatus } from "./status.js";
import type { ResultStore } from "./store/store.js";
import { type Disposition, MqttSubscriber, type SubscriberCounters } from "./subscriber.js";

export interface CollectorOptions {
  config: CollectorConfig;
  /** Opened (and closed, after stop) by the caller: PostgreSQL or PGlite. The collector migrates it. */
  store: ResultStore;
  log: Logger;
  env?: Record<string, string | undefined>;
  /** How often the counters are logged (default one minute). */
  countersLogMs?: number;
}

export interface CollectorCounters extends IngestCounters, SubscriberCounters {
  statuses: number;
  status_rejected: number;
  /** Deliveries on topics that are neither results nor status. */
  unknown_topics: number;
  connected: boolean;
  pending: number;
}

/**
 * The collector role: MQTT (persistent session, shared subscription) → validate → store, plus the
 * report server. A result is acknowledged to the broker only once stored or recorded as rejected.
 */
export class Collector {
  private readonly options: CollectorOptions;
  private readonly log: Logger;
  private ingest: Ingest | null = null;
  private subscriber: MqttSubscriber | null = null;
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

    this.subscriber = new MqttSubscriber({ ...this.mqttSettings(), handler: (t, p) => this.deliver(t, p) });
    this.subscriber.start();
    const every = this.options.countersLogMs ?? 60_000;
    this.countersTimer = setInterval(() => this.log.info(this.counters(), "collector: counters"), every);
    this.countersTimer.unref();
  }

  /** Stop in order: take in nothing new, write what waits (and ack it), end MQTT, stop the server. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.countersTimer) clearInterval(this.countersTimer);
    await this.ingest?.stop();
    await this.subscriber?.stop();
    await this.server?.stop();
    this.log.info(this.counters(), "collector: stopped");
  }

  counters(): CollectorCounters {
    const zeroSub: SubscriberCounters = {
      deliveries: 0,
      acked: 0,
      withheld: 0,
      redelivered: 0,
      connects: 0,
      disconnects: 0,
    };
    const zeroIngest: IngestCounters = {
      accepted: 0,
      stored: 0,
      duplicates: 0,
      rejected: 0,
      store_errors: 0,
      refused: 0,
    };
    return {
      ...(this.ingest?.counters() ?? zeroIngest),
      ...(this.subscriber?.counters() ?? zeroSub),
      ...this.own,
      connected: this.subscriber?.connected ?? false,
      pending: this.ingest?.pending() ?? 0,
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
      const outcome = ingest.accept(topic, payload);
      // mqtt.js hands over one delivery at a time, so nothing else will fill the batch: write now.
      void ingest.flush();
      return (await outcome) === "unstored" ? "retry" : "ack";
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

  private mqttSettings() {
    const m = this.options.config.mqtt;
    const env = this.options.env ?? process.env;
    // MQTT 3.1.1 (the embedded aedes broker) has no shared subscriptions: one collector takes everything.
    const results =
      m.protocol_version === 5
        ? collectorSubscription(m.topic_root, m.share_group)
        : `${m.topic_root}/+/+/+/result/+`;
    return {
      url: m.url,
      protocolVersion: m.protocol_version,
      clientId: m.client_id,
      keepaliveS: m.keepalive_s,
      sessionExpiryS: m.session_expiry_s,
      topics: [results, `${m.topic_root}/+/+/+/status`],
      log: this.log,
      ...(m.username ? { username: resolveSecret(m.username, env).toString("utf8") } : {}),
      ...(m.password ? { password: resolveSecret(m.password, env).toString("utf8") } : {}),
      ...(m.tls?.ca_file ? { ca: readFileSync(m.tls.ca_file) } : {}),
      ...(m.tls?.cert_file ? { cert: readFileSync(m.tls.cert_file) } : {}),
      ...(m.tls?.key_file ? { key: readFileSync(m.tls.key_file) } : {}),
    };
  }
}
