import type { KeyObject } from "node:crypto";
import { createPrivateKey } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { Agent } from "../../agent/agent.js";
import { configHash, parseConfig } from "../../agent/config/load.js";
import { signConfig } from "../../agent/control/envelope.js";
import { generateKeyPair, type PublicKeyInfo } from "../../agent/control/keys.js";
import { silentLogger } from "../../agent/log.js";

/** Shared pieces of the signed-configuration tests: keys, meshes, agents, an ack listener. */

export const ROOT = "qosprobe/v1";
export const SITES = ["bj-op-01", "sh-op-01", "gz-op-01"] as const;
export const PROVINCE: Record<string, string> = {
  "bj-op-01": "110000",
  "sh-op-01": "310000",
  "gz-op-01": "440000",
};

export interface TestKey {
  private: KeyObject;
  pub: PublicKeyInfo;
}

export async function makeKey(): Promise<TestKey> {
  const pair = await generateKeyPair();
  return { private: createPrivateKey(pair.private_pem), pub: pair.public };
}

const SITES_YAML = `sites:
  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: 18620 } }
  - { id: sh-op-01, operator: op, province: "310000", reflector: { host: 127.0.0.1, port: 18621 } }
  - { id: gz-op-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: 18622 } }`;

/** The regulator's mesh: no tests (nothing to measure here), a heartbeat interval that tells versions apart. */
export function mesh(heartbeat_s: number, extra = ""): string {
  return `version: 1
agent: { site: "\${QOSPROBE_SITE:-bj-op-01}" }
${SITES_YAML}
reflector: { enabled: false }
heartbeat: { interval_s: ${heartbeat_s} }
${extra}`;
}

/** An agent's local bootstrap file: identity, broker, pinned keys and deliveries. */
export function bootstrap(opts: {
  site: string;
  dataDir: string;
  brokerUrl: string;
  keys: PublicKeyInfo[];
  https?: { url: string; ca_file: string };
}): string {
  const pins = opts.keys.map((k) => `      - { kty: OKP, crv: Ed25519, x: ${k.jwk.x} }`).join("\n");
  return `version: 1
agent: { site: ${opts.site}, data_dir: ${opts.dataDir} }
${SITES_YAML}
reflector: { enabled: false }
mqtt: { url: "${opts.brokerUrl}", client_id: qp-${opts.site}, keepalive_s: 5 }
heartbeat: { interval_s: 3600 }
control:
  regulator_keys:
${pins}
${opts.https ? `  https: { url: "${opts.https.url}", interval_s: 3600, ca_file: ${opts.https.ca_file} }` : ""}
`;
}

export async function envelope(
  key: TestKey,
  version: number,
  yaml: string,
  iat = 1_764_500_000,
): Promise<string> {
  return signConfig({
    yaml: Buffer.from(yaml),
    config_version: version,
    privateKey: key.private,
    issued_at_s: iat,
  });
}

export function startAgent(yaml: string): Agent {
  const config = parseConfig(yaml, "bootstrap.yaml", {});
  return new Agent({ config, configHash: configHash(yaml), log: silentLogger() });
}

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "qp-control-"));
  return { path, cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
}

export interface Ack {
  site: string;
  decision: "accepted" | "rejected";
  config_version: number | null;
  config_hash: string | null;
  reason: string | null;
  key_id: string | null;
  live_version: number | null;
}

/** Listens to every site's acks and statuses, as the regulator's console would. */
export class Watcher {
  readonly acks: Ack[] = [];
  readonly status = new Map<string, { config_version?: string | null; config_hash?: string }>();
  private constructor(readonly client: MqttClient) {}

  static async open(url: string): Promise<Watcher> {
    const client = connect(url, { protocolVersion: 5, clientId: `watch-${process.pid}-${Math.random()}` });
    const w = new Watcher(client);
    client.on("message", (topic, payload) => {
      if (payload.length === 0) return;
      const body = JSON.parse(payload.toString());
      if (topic.endsWith("/config/ack")) w.acks.push(body as Ack);
      else if (topic.endsWith("/status")) w.status.set(body.site, body);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    await client.subscribeAsync([`${ROOT}/+/+/+/config/ack`, `${ROOT}/+/+/+/status`], { qos: 1 });
    return w;
  }

  acksOf(site: string): Ack[] {
    return this.acks.filter((a) => a.site === site);
  }

  async publish(topic: string, body: string): Promise<void> {
    await this.client.publishAsync(topic, body, { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function siteConfigTopic(site: string): string {
  return `${ROOT}/op/${PROVINCE[site]}/${site}/config`;
}
export const OPERATOR_CONFIG_TOPIC = `${ROOT}/op/config`;

export async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The agent's last heartbeat as written to its data directory (works without a broker too). */
export async function statusFile(dataDir: string, site: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dataDir, site, "status.json"), "utf8"));
}
