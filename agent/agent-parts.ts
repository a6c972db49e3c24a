import type { Clock } from "./clock.js";
import type { AgentConfig } from "./config/schema.js";
import { decodeKey, resolveSecret } from "./config/secrets.js";
import { type Identity, offlineStatus } from "./heartbeat.js";
import type { Logger } from "./log.js";
import type { ClockSyncState } from "./probe/prober.js";
import { Reflector } from "./probe/stamp/reflector.js";
import { parseListen } from "./probe/target.js";
import { MqttPublisher, type MqttPublisherOptions } from "./publish/mqtt.js";
import { receiptTopic, type SiteTopics, statusTopic } from "./publish/topics.js";

type Env = Record<string, string | undefined>;

/**
 * The agent's long-lived parts built from its configuration: secrets are read here, at build time,
 * so a missing key or certificate fails the start (or the reload) with its reason.
 */
export function buildPublisher(
  cfg: AgentConfig,
  broker: { url: string; protocolVersion: 4 | 5 },
  id: Identity,
  topics: SiteTopics,
  env: Env,
  log: Logger,
): MqttPublisher {
  const m = cfg.mqtt;
  const secret = (ref: Parameters<typeof resolveSecret>[0]) => resolveSecret(ref, env);
  const options: MqttPublisherOptions = {
    url: broker.url,
    protocolVersion: broker.protocolVersion,
    clientId: m?.client_id ?? `qosprobe-${id.operator}-${id.site}`,
    keepalive: m?.keepalive_s ?? 30,
    will: {
      topic: statusTopic(topics),
      payload: JSON.stringify(offlineStatus(id, "will")),
      retain: true,
      qos: 1,
    },
    log: log.child({ part: "mqtt" }),
    receipts: cfg.outbox.receipts,
    // Subscribed on every connect: the collector's store receipts for this agent.
    ...(cfg.outbox.receipts === "required" ? { subscriptions: [receiptTopic(topics)] } : {}),
    ...(m?.username ? { username: secret(m.username).toString("utf8") } : {}),
    ...(m?.password ? { password: secret(m.password).toString("utf8") } : {}),
    ...(m?.tls?.ca_file ? { ca: secret({ file: m.tls.ca_file }) } : {}),
    ...(m?.tls?.cert_file ? { cert: secret({ file: m.tls.cert_file }) } : {}),
    ...(m?.tls?.key_file ? { key: secret({ file: m.tls.key_file }) } : {}),
  };
  return new MqttPublisher(options);
}

export function buildReflector(
  cfg: AgentConfig,
  clockSync: () => ClockSyncState,
  clock: Clock,
  env: Env,
  log: Logger,
): Reflector | undefined {
  const r = cfg.reflector;
  if (!r.enabled) return undefined;
  const { host, port } = parseListen(r.listen ?? "0.0.0.0:862");
  return new Reflector({
    host,
    port,
    clockSync,
    authMode: r.auth.mode,
    ...(r.auth.key ? { authKey: decodeKey(resolveSecret(r.auth.key, env)) } : {}),
    ...(r.allow?.length ? { allow: r.allow } : {}),
    rateLimitPps: r.rate_limit_pps,
    stateful: r.stateful,
    thread: r.thread,
    clock,
    log: log.child({ part: "reflector" }),
  });
}
