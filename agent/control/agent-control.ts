import type { Clock } from "../clock.js";
import type { AgentConfig } from "../config/schema.js";
import { resolveSecret } from "../config/secrets.js";
import type { Logger } from "../log.js";
import type { MqttCredentials } from "../publish/mqtt-options.js";
import type { SiteTopics } from "../publish/topics.js";
import { ConfigControl, type Decision, type LiveConfig } from "./control.js";
import { HttpsConfigSource } from "./https-source.js";
import { ControlChannel } from "./mqtt-channel.js";

type Env = Record<string, string | undefined>;

export interface BrokerAddress {
  url: string;
  protocolVersion: 4 | 5;
}

export interface AgentControlOptions {
  bootstrap: AgentConfig;
  dataDir: string;
  identity: { site: string; operator: string; province: string };
  topics: SiteTopics;
  log: Logger;
  clock: Clock;
  env: Env;
  apply: (config: AgentConfig, hash: string) => Promise<void>;
  /** After every decision: the agent republishes its heartbeat so the decision is visible at once. */
  decided?: () => void;
}

/** What the heartbeat says about the signed configuration. */
export interface ControlHeartbeat {
  config_signed: LiveConfig | null;
  config_last_decision: Decision | null;
  regulator_keys: string[];
}

/**
 * The agent's control plane as one part with start()/stop(): the decision (ConfigControl) and its two
 * optional deliveries, the MQTT control channel (which also carries the acks) and the HTTPS poller.
 */
export class AgentControl {
  private readonly o: AgentControlOptions;
  private bootstrap: AgentConfig;
  readonly decisions: ConfigControl;
  private channel: ControlChannel | undefined;
  private https: HttpsConfigSource | undefined;
  private broker: BrokerAddress | undefined;

  constructor(o: AgentControlOptions) {
    this.o = o;
    this.bootstrap = o.bootstrap;
    this.decisions = new ConfigControl({
      bootstrap: o.bootstrap,
      dataDir: o.dataDir,
      identity: o.identity,
      log: o.log.child({ part: "control" }),
      clock: o.clock,
      apply: o.apply,
      ack: (ack) => this.channel?.publishAck(ack),
      ...(o.decided ? { decided: o.decided } : {}),
    });
  }

  /** The last-known-good configuration to start with, if one verifies. */
  restore(): Promise<{ config: AgentConfig; hash: string } | null> {
    return this.decisions.restore();
  }

  /** Start the deliveries once the agent knows its broker (its own or the embedded one). */
  start(broker: BrokerAddress): void {
    this.broker = broker;
    const control = this.bootstrap.control;
    if (!control) return;
    const offer = (text: string, source: string) => void this.decisions.offer(text, source);
    const m = this.bootstrap.mqtt;
    const secret = (ref: Parameters<typeof resolveSecret>[0]) => resolveSecret(ref, this.o.env);
    const credentials: MqttCredentials = {
      ...(m?.username ? { username: secret(m.username).toString("utf8") } : {}),
      ...(m?.password ? { password: secret(m.password).toString("utf8") } : {}),
      ...(m?.tls?.ca_file ? { ca: secret({ file: m.tls.ca_file }) } : {}),
      ...(m?.tls?.cert_file ? { cert: secret({ file: m.tls.cert_file }) } : {}),
      ...(m?.tls?.key_file ? { key: secret({ file: m.tls.key_file }) } : {}),
    };
    const { operator, site } = this.o.identity;
    this.channel = new ControlChannel({
      url: broker.url,
      protocolVersion: broker.protocolVersion,
      clientId: `${m?.client_id ?? `qosprobe-${operator}-${site}`}-control`,
      credentials,
      keepalive_s: m?.keepalive_s ?? 30,
      topics: this.o.topics,
      subscribe: control.mqtt,
      onEnvelope: offer,
      log: this.o.log.child({ part: "control" }),
    });
    this.channel.start();
    if (control.https) {
      this.https = new HttpsConfigSource({
        url: control.https.url,
        interval_s: control.https.interval_s,
        ...(control.https.ca_file ? { ca: secret({ file: control.https.ca_file }) } : {}),
        onEnvelope: offer,
        log: this.o.log.child({ part: "control" }),
      });
      this.https.start();
    }
  }

  async stop(): Promise<void> {
    await this.https?.stop();
    this.https = undefined;
    await this.channel?.stop();
    this.channel = undefined;
  }

  /**
   * The local file changed (SIGHUP): new pins and local sections. Returns what the agent should apply;
   * the deliveries restart with the new settings.
   */
  async localChanged(next: AgentConfig, nextHash: string): Promise<{ config: AgentConfig; hash: string }> {
    await this.stop();
    this.bootstrap = next;
    const effective = await this.decisions.setBootstrap(next, nextHash);
    return effective;
  }

  /** Restart the deliveries after a local change was applied (the broker may have moved). */
  restart(broker?: BrokerAddress): void {
    const b = broker ?? this.broker;
    if (b) this.start(b);
  }

  heartbeat(): ControlHeartbeat {
    return {
      config_signed: this.decisions.live,
      config_last_decision: this.decisions.lastDecision,
      regulator_keys: this.decisions.pinnedKeyIds,
    };
  }
}
