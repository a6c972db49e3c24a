import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "../agent/config/schema.js";
import { resolveSecret } from "../agent/config/secrets.js";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import { collectorSubscription, parseTopic } from "../agent/publish/topics.js";
import type { CollectorConfig } from "./config.js";
import {
  type ControlPlaneCounters,
  ControlPlaneIngest,
  configAckSubscription,
  zeroControlPlaneCounters,
} from "./control-plane/ingest.js";
import { DeviceKeys } from "./evidence.js";
import { Ingest, type IngestCounters, type StoredBatch, zeroIngestCounters } from "./ingest.js";
import { CollectorReceipts, type ReceiptCounters } from "./receipts.js";
import { ReportServer } from "./report/server.js";
import { parseStatus } from "./status.js";
import type { MigrationReport, ResultHead, ResultStore } from "./store/store.js";
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

export interface CollectorCounters
  extends IngestCounters,
    SubscriberCounters,
    ReceiptCounters,
    ControlPlaneCounters {
  statuses: number;
  status_rejected: number;
  /** Deliveries on topics that are neither results nor status. */
  unknown_topics: number;
  /** Every MQTT connection is up. */
  connected: boolean;
  pending: number;
  connections: ConnectionCounters[];
  /** When the last result / status delivery arrived (null: none since start). */
  last_result_at: string | null;
  last_status_at: string | null;
  /**
   * Statuses arrive but results have not for `ingest.results_stale_s`: the agents are up and talking,
   * yet nothing reaches the store (e.g. the broker lost the shared subscription, issue 7).
   */
  results_stale: boolean;
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
  private receipts: CollectorReceipts | null = null;
  private startedAt = Date.now();
  private lastResultAt: number | null = null;
  private lastStatusAt: number | null = null;
  private staleLogged = false;
  private controlPlane: ControlPlaneIngest | null = null;

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
    const ahead = storeAhead(migration);
    if (ahead) this.log.error(migration, ahead);
    const ingest = new Ingest({
      store,
      log: this.log,
      batchSize: config.ingest.batch_size,
      flushIntervalMs: config.ingest.flush_interval_ms,
      // Every connection's window may be full at once: that much must fit before anything is refused.
      maxPending: Math.max(20 * config.ingest.batch_size, config.mqtt.connections * IN_FLIGHT),
      // Each delivery's PUBACK waits for its write: write what arrived as soon as the turn ends.
      groupCommit: true,
      onStored: (msgs, batch) => this.onStored(msgs, batch),
      // A rejected result is decided too: its agent's next receipt covers the seq (issue 7).
      onRejected: (agents) => {
        for (const a of agents) this.receipts?.noteAgent(a);
      },
      deviceKeys: new DeviceKeys(config.sites),
    });
    this.ingest = ingest;
    ingest.start();
    if (store.controlPlane)
      this.controlPlane = new ControlPlaneIngest({
        store: store.controlPlane,
        rejects: store,
        log: this.log,
      });

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
        timezone: config.report.timezone,
        coverage_floor: config.report.coverage_floor,
        expected: config.expected,
        limits: { max_range_days: config.report.max_range_days, max_buckets: config.report.max_buckets },
        cache: { open_ttl_ms: config.report.cache_s * 1000, closed_ttl_ms: config.report.cache_s * 10_000 },
        counters: () => this.counters(),
      });
      this.address = await this.server.start();
    }

    this.subscribers = this.mqttSettings().map(
      (settings) => new MqttSubscriber({ ...settings, handler: (t, p) => this.deliver(t, p) }),
    );
    this.receipts = new CollectorReceipts({
      store,
      topicRoot: config.mqtt.topic_root,
      intervalMs: config.ingest.receipt_interval_ms,
      log: this.log,
      publish: (topic, payload) => this.publishOnAny(topic, payload),
    });
    this.receipts.start();
    this.startedAt = Date.now();
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
    // Receipts for what the last flush stored, while the connections are still up.
    await this.receipts?.stop();
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
      ...(this.controlPlane?.counters() ?? zeroControlPlaneCounters()),
      ...sub,
      ...this.own,
      connected: connections.length > 0 && connections.every((c) => c.connected),
      pending: this.ingest?.pending() ?? 0,
      connections,
      ...(this.receipts?.counters() ?? { receipts_sent: 0, receipt_errors: 0 }),
      last_result_at: this.lastResultAt === null ? null : new Date(this.lastResultAt).toISOString(),
      last_status_at: this.lastStatusAt === null ? null : new Date(this.lastStatusAt).toISOString(),
      results_stale: this.resultsStale(),
    };
  }

  private resultsStale(now = Date.now()): boolean {
    const limit = this.options.config.ingest.results_stale_s * 1000;
    const statusRecently = this.lastStatusAt !== null && now - this.lastStatusAt <= limit;
    const resultQuiet = now - (this.lastResultAt ?? this.startedAt) > limit;
    const stale = statusRecently && resultQuiet;
    if (stale && !this.staleLogged) {
      this.log.warn(
        { last_result_at: this.lastResultAt, results_stale_s: limit / 1000 },
        "collector: statuses arrive but results do not: is the results subscription gone?",
      );
    }
    this.staleLogged = stale;
    return stale;
  }

  /**
   * Committed: one info line per batch (how many, each agent's stored seq ranges, how long the write
   * took), each result at debug (to trace it end to end); then a receipt for its agent. A line per
   * result at info was a pino write per result on the ingest event loop.
   */
  private onStored(msgs: readonly ResultHead[], batch: StoredBatch): void {
    if (this.log.isLevelEnabled("debug")) {
      for (const m of msgs) {
        this.log.debug(
          {
            id: m.id,
            seq: m.seq,
            operator: m.agent.operator,
            site: m.agent.site,
            test: m.test.id,
            interval: m.interval,
            status: m.status,
          },
          "result stored",
        );
      }
    }
    if (msgs.length > 0)
      this.log.info({ stored: msgs.length, seqs: seqRanges(msgs), ms: batch.ms }, "results stored");
    this.receipts?.noteStored(msgs);
  }

  /** Receipts go out on whichever connection is up (they are not part of any share group). */
  private publishOnAny(topic: string, payload: Buffer): Promise<void> {
    const up = this.subscribers.find((s) => s.connected);
    if (!up) return Promise.reject(new QosProbeError("MQTT", "no MQTT connection up for store receipts"));
    return up.publish(topic, payload);
  }

  private async deliver(topic: string, payload: Buffer): Promise<Disposition> {
    const ingest = this.ingest;
    if (!ingest) return "retry";
    const root = this.options.config.mqtt.topic_root;
    const parsed = parseTopic(root, topic);
    if (parsed?.kind === "status") {
      this.lastStatusAt = Date.now();
      return this.onStatus(topic, parsed, payload);
    }
    if (parsed?.kind === "config-ack" && this.controlPlane)
      return this.controlPlane.onAck(topic, parsed, payload);
    if (parsed === null || parsed.kind === "result") {
      this.lastResultAt = Date.now();
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
        if (verdict.status.state === "online")
          await this.controlPlane?.onHeartbeat(verdict.status.payload, new Date());
        this.own.statuses += 1;
        // A heartbeat (sent on every agent connect) gets the agent a receipt: it learns what to delete.
        if (verdict.status.state === "online") this.receipts?.noteAgent(verdict.status);
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
   * Status and config-ack topics are not shared, so only the first connection subscribes to them.
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
      ...brokerCredentials(this.options.config, env),
    };
    return Array.from({ length: m.connections }, (_, i) => ({
      ...common,
      clientId: m.connections === 1 ? m.client_id : `${m.client_id}-${i}`,
      topics:
        i === 0
          ? [
              results,
              `${m.topic_root}/+/+/+/status`,
              ...(this.controlPlane ? [configAckSubscription(m.topic_root)] : []),
            ]
          : [results],
    }));
  }
}

/**
 * Each agent's seqs in a stored batch as inclusive ranges, for the batch's log line:
 * `{ "op/site": "5-9,12" }`. Seqs are integers ≥ 0 (the result schema); the order of `msgs` is not assumed.
 */
export function seqRanges(msgs: readonly ResultHead[]): Record<string, string> {
  const byAgent = new Map<string, number[]>();
  for (const m of msgs) {
    const k = `${m.agent.operator}/${m.agent.site}`;
    const list = byAgent.get(k);
    if (list) list.push(m.seq);
    else byAgent.set(k, [m.seq]);
  }
  const out: Record<string, string> = {};
  for (const [k, seqs] of byAgent) {
    seqs.sort((a, b) => a - b);
    const parts: string[] = [];
    let from = seqs[0] as number;
    let to = from;
    for (const s of seqs.slice(1)) {
      if (s <= to + 1) to = Math.max(to, s);
      else {
        parts.push(from === to ? `${from}` : `${from}-${to}`);
        from = s;
        to = s;
      }
    }
    parts.push(from === to ? `${from}` : `${from}-${to}`);
    out[k] = parts.join(",");
  }
  return out;
}

/**
 * The line a collector logs when a newer qos-probe migrated its store (null otherwise). Ingest goes on:
 * migrations only add (columns, tables), so this version's writes stay valid and nothing is lost; what
 * it reads back of rows the newer version wrote may miss fields (011 moved the payload to a column that
 * versions ≤ 010 read back as null).
 */
export function storeAhead(migration: MigrationReport): string | null {
  if (migration.current <= migration.known) return null;
  return `collector: the store is at migration ${migration.current}, newer than this qos-probe (${migration.known}): a newer collector shares the database. Results are still stored, but what this version reads back of newer rows (report --format results, verify) can miss fields; upgrade this collector`;
}

/**
 * The broker credentials the subscribers connect with: the MQTT username and password references
 * resolved, the TLS files read. Throws CONFIG_SECRET naming the variable or file, or CONFIG_READ naming
 * a TLS file it cannot read. The collector role calls it once before it writes anything (a missing
 * secret must not leave a new PGlite store or client id file behind).
 */
export function brokerCredentials(
  config: CollectorConfig,
  env: Record<string, string | undefined> = process.env,
): { username?: string; password?: string; ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const m = config.mqtt;
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new QosProbeError(
        "CONFIG_READ",
        `mqtt.tls.${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
        { hint: "check the path and that the user qos-probe runs as may read it", cause: err },
      );
    }
  };
  return {
    ...(m.username ? { username: resolveSecret(m.username, env).toString("utf8") } : {}),
    ...(m.password ? { password: resolveSecret(m.password, env).toString("utf8") } : {}),
    ...(m.tls?.ca_file ? { ca: read("ca_file", m.tls.ca_file) } : {}),
    ...(m.tls?.cert_file ? { cert: read("cert_file", m.tls.cert_file) } : {}),
    ...(m.tls?.key_file ? { key: read("key_file", m.tls.key_file) } : {}),
  };
}
