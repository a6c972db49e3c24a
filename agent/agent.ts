import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { buildPublisher, buildReflector } from "./agent-parts.js";
import { type ApplyPort, type ApplyReport, applyConfig } from "./apply-config.js";
import { type Clock, systemClock } from "./clock.js";
import { ownTests, siteById } from "./config/pairs.js";
import type { AgentConfig } from "./config/schema.js";
import type { AgentControl, BrokerAddress } from "./control/agent-control.js";
import { type ControlPort, openControl, reloadLocal } from "./control-wiring.js";
import { acquireDirLock, type DirLock } from "./dir-lock.js";
import { ResultChain } from "./evidence/chain.js";
import { loadOrCreateDeviceKey } from "./evidence/device-key.js";
import { offlineStatus, onlineStatus, writeStatusFile } from "./heartbeat.js";
import { readClockSync } from "./host/clock-sync.js";
import { collectHostFacts } from "./host/facts.js";
import type { Logger } from "./log.js";
import { measure } from "./measure.js";
import type { ClockSyncState } from "./probe/prober.js";
import type { Reflector } from "./probe/stamp/reflector.js";
import { parseListen } from "./probe/target.js";
import type { EmbeddedBroker } from "./publish/broker.js";
import { ResultMessage } from "./publish/message.js";
import type { MqttPublisher } from "./publish/mqtt.js";
import { Outbox } from "./publish/outbox.js";
import { AgentReceipts } from "./publish/receipts.js";
import { receiptTopic, resultTopic, type SiteTopics, statusTopic } from "./publish/topics.js";
import { type RunOrder, Scheduler } from "./schedule.js";
import { VERSION } from "./version.js";

export type { ApplyReport } from "./apply-config.js";

export interface AgentOptions {
  /** A validated configuration (config/load.ts). */
  config: AgentConfig;
  /** sha256 prefix of the configuration bytes, echoed in heartbeats. */
  configHash: string;
  log: Logger;
  clock?: Clock;
  env?: Record<string, string | undefined>;
}

/** How long stop() waits for its one immediate connection attempt (a broker that does not answer). */
const GOODBYE_WAIT_MS = 2_000;

/** How long stop() lets the publisher flush the outbox before it disconnects. */
const DEFAULT_STOP_DEADLINE_MS = 10_000;

/**
 * The daemon at one site: its own STAMP reflector, its scheduled tests, the durable outbox and the MQTT
 * publisher (or an embedded broker when no broker is configured). Results flow one way: scheduler →
 * runner → result message → outbox (fsynced, with our seq) → publisher → collector, which stores it and
 * sends a store receipt; only a receipt deletes a result from the outbox (`outbox.receipts: off`: a PUBACK).
 */
export class Agent {
  private config: AgentConfig;
  private configHash: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly env: Record<string, string | undefined>;
  private lock: DirLock | undefined;
  private outbox: Outbox | undefined;
  private broker: EmbeddedBroker | undefined;
  private publisher: MqttPublisher | undefined;
  private receipts: AgentReceipts | undefined;
  private reflector: Reflector | undefined;
  private scheduler: Scheduler | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private clockSync: ClockSyncState = { synced: false, source: "unknown" };
  private startedAt = 0;
  /** Set by stop(): no heartbeat may write `online` to status.json after the shutdown wrote `offline`. */
  private stopping = false;
  /** The signed-configuration control plane, when the local file has a control section. */
  private control: AgentControl | undefined;
  private brokerAddress: BrokerAddress | undefined;
  /** Seals every result with prev + sig under this site's device key. */
  private chain: ResultChain | undefined;
  /** When the live configuration was loaded (epoch ms), for the heartbeat. */
  private configLoadedAt = 0;
  private heartbeatChain: Promise<void> = Promise.resolve();
  private results = 0;

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.configHash = opts.configHash;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.env = opts.env ?? process.env;
  }

  /** This agent's data directory: one per site, so several agents may share a parent directory. */
  get dataDir(): string {
    return join(this.config.agent.data_dir, this.config.agent.site);
  }

  get identity() {
    return identityOf(this.config);
  }

  get topics(): SiteTopics {
    return topicsOf(this.config);
  }

  /** Results measured since start (for tests and the bench). */
  get resultCount(): number {
    return this.results;
  }

  get outboxDepth(): number {
    return this.outbox?.depth() ?? 0;
  }

  /**
   * Start everything. `tests: false` starts all but the scheduled tests (the reflector answers peers);
   * `startTests()` starts them later — several agents starting together (the demo) bring every
   * reflector up first, so no first interval meets a peer whose reflector is not there yet.
   */
  async start(opts: { tests?: boolean } = {}): Promise<void> {
    this.startedAt = this.clock.now();
    this.configLoadedAt = this.startedAt;
    await mkdir(this.dataDir, { recursive: true });
    this.lock = await acquireDirLock(this.dataDir, "agent.lock", {
      what: "agent data directory",
      code: "OUTBOX_IO",
      hint: "another agent for this site is running; stop it or give this one its own agent.data_dir",
    });
    try {
      await this.openControl();
      const deviceKey = await loadOrCreateDeviceKey(this.dataDir);
      this.chain = new ResultChain(this.dataDir, deviceKey);
      if (deviceKey.created)
        this.log.info(
          { device_key: deviceKey.public.jwk, kid: deviceKey.public.kid },
          "device key created: register it as sites[].device_key",
        );
      this.clockSync = await readClockSync();
      const outbox = new Outbox({
        dir: join(this.dataDir, "outbox"),
        max_bytes: this.config.outbox.max_bytes,
        max_age_ms: this.config.outbox.max_age_s * 1000,
        clock: this.clock,
        log: this.log.child({ part: "outbox" }),
      });
      const report = await outbox.open();
      this.outbox = outbox;
      this.log.info(
        report,
        `outbox open: ${report.replayed} undelivered results to replay, next seq ${report.next_seq}`,
      );
      await this.startPublishing();
      if (this.brokerAddress) this.control?.start(this.brokerAddress);
      await this.startReflector();
      if (opts.tests !== false) this.startScheduler();
      await this.heartbeat();
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.heartbeat.interval_s * 1000);
    } catch (err) {
      await this.stop({ deadline_ms: 0 }).catch(() => undefined);
      throw err;
    }
  }

  /** Start the scheduled tests of an agent started with `{ tests: false }`; does nothing if they run. */
  startTests(): void {
    if (!this.scheduler && !this.stopping && this.outbox) this.startScheduler();
  }

  /**
   * Stop measuring — configuration control and the scheduler (runs abort and hand in their results) —
   * while the reflector keeps answering peers. Several agents stopping together (the demo) call this
   * on all of them first, so no test is left sending to a reflector that is already gone (that would
   * be a REFLECTOR_UNREACHABLE fault of our own making). Idempotent; `stop()` begins with it.
   */
  async stopTests(): Promise<void> {
    await this.control?.stop();
    this.control = undefined;
    await this.scheduler?.stop();
    this.scheduler = undefined;
  }

  /**
   * Stop in order within a deadline: scheduler (runs abort and hand in their results), a goodbye status,
   * outbox flush through the publisher, MQTT end, reflector, broker, lock.
   */
  async stop(opts: { deadline_ms?: number } = {}): Promise<void> {
    const deadline = opts.deadline_ms ?? DEFAULT_STOP_DEADLINE_MS;
    this.stopping = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.stopTests();
    const publisher = this.publisher;
    this.publisher = undefined;
    // Say offline in status.json first: `qos-probe health` must not call a stopping agent online.
    await writeStatusFile(
      this.dataDir,
      offlineStatus(this.identity, "shutdown", new Date(this.clock.now())),
    ).catch((err: unknown) => this.log.warn({ err }, "status.json not updated at shutdown"));
    if (publisher) {
      // Not connected: one immediate attempt instead of waiting out the backoff. A broker that is back
      // gets the flush and the goodbye; an absent one (refused: milliseconds; silent: GOODBYE_WAIT_MS)
      // gets neither, and the results stay in the outbox, fsynced (stop took ≈ 12 s against an absent
      // broker: 2 s waiting for a reconnect, then the whole deadline for a flush nothing could send).
      if (!publisher.connected) await publisher.connectNow(Math.min(GOODBYE_WAIT_MS, deadline));
      const goodbye = offlineStatus(this.identity, "shutdown", new Date(this.clock.now()));
      if (publisher.connected) {
        await publisher
          .publishRetained(statusTopic(this.topics), JSON.stringify(goodbye))
          .then(() => this.log.info("offline status published"))
          .catch((err: unknown) =>
            this.log.warn(
              { err: (err as Error).message },
              "offline status not published; the Last Will says it",
            ),
          );
      } else {
        this.log.info(
          { depth: this.outbox?.depth() ?? 0 },
          "broker not reachable: no flush; undelivered results stay in the outbox for the next start, the Last Will announces this agent offline",
        );
      }
      await publisher.stop({ deadline_ms: deadline });
    }
    this.receipts?.stop();
    this.receipts = undefined;
    await this.reflector?.stop();
    this.reflector = undefined;
    const outbox = this.outbox;
    this.outbox = undefined;
    if (outbox) {
      await outbox.close();
      this.log.info(
        { depth: outbox.depth(), next_seq: outbox.nextSeq() },
        `outbox closed: ${outbox.depth()} undelivered results kept for the next start`,
      );
    }
    await this.broker?.stop();
    this.broker = undefined;
    await this.lock?.release();
    this.lock = undefined;
  }

  /**
   * Apply a new validated configuration as a diff (SIGHUP, and signed configuration delivery):
   * - tests whose plan is unchanged keep running, their interval in flight untouched; changed tests are
   *   restarted, removed ones stopped, new ones started;
   * - the reflector restarts only if its section or this site's entry changed, the MQTT connection
   *   only if mqtt / embedded_broker / this site's identity changed (new secrets are read first);
   * - if any part fails, the running parts stay (or are put back) and the previous configuration stays
   *   live: `errors` says why and the heartbeat keeps naming the old hash.
   * Returns what was applied (part names: "reflector", "mqtt", "test:<id>") and what was left alone.
   */
  async applyConfig(next: AgentConfig, nextHash: string): Promise<ApplyReport> {
    return applyConfig(this.applyPort(), next, nextHash);
  }

  /** The parts applyConfig (apply-config.ts) may swap. */
  private applyPort(): ApplyPort {
    return {
      log: this.log,
      live: () => ({ config: this.config, hash: this.configHash }),
      adopt: (config, hash) => {
        this.config = config;
        this.configHash = hash;
        this.configLoadedAt = this.clock.now();
      },
      reflector: () => this.reflector,
      stopReflector: async () => {
        const running = this.reflector;
        await running?.stop();
        this.reflector = undefined;
      },
      buildReflector: (config) =>
        buildReflector(config, () => this.clockSync, this.clock, this.env, this.log),
      startReflector: (reflector) => this.startReflectorPart(reflector),
      replacePublishing: (config) => this.replacePublishing(config),
      applyTests: async (config) => {
        if (!this.scheduler) {
          this.startScheduler();
          return { changed: ownTests(config).map((p) => p.test.id), kept: [] };
        }
        const diff = await this.scheduler.apply(ownTests(config));
        return { changed: [...diff.restarted, ...diff.added, ...diff.removed], kept: diff.kept };
      },
      heartbeat: () => this.heartbeat(),
    };
  }

  /**
   * Swap the MQTT side for `cfg`'s. The new publisher (and its secrets) is built before the old one is
   * touched; an embedded broker on the same address must stop before its successor can bind, and is
   * put back if the successor fails.
   */
  private async replacePublishing(cfg: AgentConfig): Promise<void> {
    // Read the new secrets (files, variables) now: a missing one refuses the reload before anything stops.
    if (cfg.mqtt) {
      const m = cfg.mqtt;
      const broker = { url: m.url, protocolVersion: m.protocol_version };
      buildPublisher(cfg, broker, identityOf(cfg), topicsOf(cfg), this.env, this.log);
    }
    await this.publisher?.stop({ deadline_ms: 2_000 });
    this.publisher = undefined;
    this.receipts?.stop();
    this.receipts = undefined;
    await this.broker?.stop();
    this.broker = undefined;
    try {
      await this.startPublishing(cfg);
    } catch (err) {
      // startPublishing may have started the new embedded broker before the publisher failed.
      const half = this.broker as EmbeddedBroker | undefined;
      (this.receipts as AgentReceipts | undefined)?.stop(); // startPublishing may have started it too
      this.receipts = undefined;
      await half?.stop().catch(() => undefined);
      this.broker = undefined;
      await this.startPublishing(this.config).catch((e: unknown) =>
        this.log.error({ err: e }, "previous MQTT connection could not be restored"),
      );
      throw err;
    }
  }

  /** The local file changed (SIGHUP): see control-wiring.ts. */
  async reloadLocal(next: AgentConfig, nextHash: string): Promise<ApplyReport> {
    return reloadLocal(this.controlPort(), next, nextHash);
  }

  private openControl(): Promise<unknown> {
    return openControl(this.controlPort(), this.config);
  }

  /** What the control-plane wiring (control-wiring.ts) reads and sets of the agent. */
  private controlPort(): ControlPort {
    const agent = this;
    return {
      log: this.log,
      clock: this.clock,
      env: this.env,
      dataDir: this.dataDir,
      identity: this.identity,
      topics: this.topics,
      get control() {
        return agent.control;
      },
      set control(c) {
        agent.control = c;
      },
      brokerAddress: () => this.brokerAddress,
      adoptAtStart: (config, hash) => {
        this.config = config;
        this.configHash = hash;
      },
      applyConfig: (config, hash) => this.applyConfig(config, hash),
      heartbeat: () => this.heartbeat(),
    };
  }

  private async startPublishing(cfg: AgentConfig = this.config): Promise<void> {
    let url: string;
    let protocolVersion: 4 | 5;
    if (cfg.mqtt) {
      url = cfg.mqtt.url;
      protocolVersion = cfg.mqtt.protocol_version;
    } else {
      const { host, port } = parseListen(cfg.embedded_broker.listen);
      // aedes only when this agent is its own broker (a one-box setup); production agents never load it.
      const { EmbeddedBroker } = await import("./publish/broker.js");
      this.broker = new EmbeddedBroker({ host, port, log: this.log.child({ part: "broker" }) });
      await this.broker.start();
      url = this.broker.url;
      protocolVersion = 4; // aedes speaks MQTT 3.1.1 only
    }
    this.brokerAddress = { url, protocolVersion };
    const publisher = buildPublisher(
      cfg,
      { url, protocolVersion },
      identityOf(cfg),
      topicsOf(cfg),
      this.env,
      this.log,
    );
    // A fresh connection gets a fresh retained status at once, not at the next heartbeat.
    publisher.on("connected", () => void this.heartbeat());
    if (this.outbox && cfg.outbox.receipts === "required") {
      this.receipts = new AgentReceipts({
        outbox: this.outbox,
        source: publisher,
        topic: receiptTopic(topicsOf(cfg)),
        own: identityOf(cfg),
        timeout_ms: cfg.outbox.receipt_timeout_s * 1000,
        log: this.log.child({ part: "receipts" }),
        now: () => this.clock.now(),
      });
      this.receipts.start();
    }
    publisher.start();
    if (this.outbox) publisher.drain(this.outbox);
    this.publisher = publisher;
  }

  private async startReflector(): Promise<void> {
    const reflector = buildReflector(this.config, () => this.clockSync, this.clock, this.env, this.log);
    if (reflector) await this.startReflectorPart(reflector);
  }

  private async startReflectorPart(reflector: Reflector): Promise<void> {
    await reflector.start();
    this.reflector = reflector;
    const a = reflector.address();
    this.log.info(
      {
        address: a.address,
        port: a.port,
        timestamps: reflector.timestamps,
        thread: reflector.thread,
        receive_buffer_bytes: reflector.receiveBufferBytes,
      },
      "STAMP reflector listening",
    );
  }

  private startScheduler(): void {
    const plans = ownTests(this.config);
    this.scheduler = new Scheduler(plans, {
      clock: this.clock,
      log: this.log,
      run: (order) => this.measure(order),
    });
    this.scheduler.start();
  }

  /** One run: measure, make the result durable. The publisher takes it from there. */
  private async measure(order: RunOrder): Promise<void> {
    const outbox = this.outbox;
    if (!outbox) return;
    const { plan } = order;
    const result = await measure(plan, order, {
      clock: this.clock,
      log: this.log,
      clockSync: this.clockSync,
      agent: this.identity,
      env: this.env,
    });
    const checked = ResultMessage.safeParse(result);
    if (!checked.success) {
      // A bug, not bad input: publish anyway so the collector's rejects table keeps the evidence.
      this.log.error(
        { issues: checked.error.issues, test: plan.test.id },
        "result does not match the v1 schema",
      );
    }
    const chain = this.chain;
    const seq = await outbox.append(resultTopic(this.topics, plan.test.id), (s) =>
      chain ? chain.nextPayload({ ...result, seq: s }) : Buffer.from(JSON.stringify({ ...result, seq: s })),
    );
    this.results += 1;
    this.log.info(
      {
        test: plan.test.id,
        id: result.id,
        seq,
        interval: result.interval,
        sent: result.packets.sent,
        loss_ratio: result.loss_ratio,
        rtt_mean_ms: result.rtt_ms.mean,
        dv_ms: result.delay_variation_ms.max_minus_min,
        verdicts: result.verdicts,
        ...(result.error ? { error: result.error } : {}),
      },
      "result",
    );
  }

  /** Heartbeats run one after another: a status written out of order would show stale counters. */
  private heartbeat(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.heartbeatChain = this.heartbeatChain.then(() => this.beat());
    return this.heartbeatChain;
  }

  private async beat(): Promise<void> {
    if (this.stopping) return;
    try {
      this.clockSync = await readClockSync();
      const status = onlineStatus(this.identity, {
        at: new Date(this.clock.now()),
        heartbeat_interval_s: this.config.heartbeat.interval_s,
        config_version: this.config.config_version ?? null,
        config_hash: this.configHash,
        config_loaded_at: new Date(this.configLoadedAt),
        outbox: {
          depth: this.outbox?.depth() ?? 0,
          dropped: this.outbox?.dropped() ?? 0,
          bytes: this.outbox?.bytes() ?? 0,
          awaiting_receipt: this.outbox?.awaitingReceipt() ?? 0,
          append_failed: this.outbox?.appendFailed() ?? 0,
          next_seq: this.outbox?.nextSeq() ?? 1,
        },
        receipts: this.receipts
          ? { mode: "required", ...this.receipts.counters() }
          : { mode: this.config.outbox.receipts },
        clock: this.clockSync,
        host: await collectHostFacts(),
        reflector: this.reflector ? { ...this.reflector.counters } : null,
        tests: ownTests(this.config).length,
        uptime_s: Math.round((this.clock.now() - this.startedAt) / 1000),
        mqtt: this.publisher?.counters() ?? { published: 0, acked: 0, failed: 0, not_delivered: 0 },
      });
      if (this.control) Object.assign(status, this.control.heartbeat());
      if (this.chain)
        Object.assign(status, { device_key: this.chain.publicJwk, device_key_id: this.chain.kid });
      if (this.stopping) return;
      await writeStatusFile(this.dataDir, status);
      if (this.publisher?.connected) {
        await this.publisher.publishRetained(statusTopic(this.topics), JSON.stringify(status));
      }
    } catch (err) {
      this.log.warn({ err }, "heartbeat not published");
    }
  }
}

function identityOf(config: AgentConfig) {
  const own = siteById(config, config.agent.site);
  return { site: own.id, operator: own.operator, province: own.province, version: VERSION };
}

function topicsOf(config: AgentConfig): SiteTopics {
  const { site, operator, province } = identityOf(config);
  return { root: config.mqtt?.topic_root ?? "qosprobe/v1", operator, province, site };
}
