import { siteById } from "./config/pairs.js";
import type { AgentConfig } from "./config/schema.js";
import type { Logger } from "./log.js";
import type { Reflector } from "./probe/stamp/reflector.js";

/** What applyConfig did: part names applied, left alone, and why it refused (empty = applied). */
export interface ApplyReport {
  applied: string[];
  unchanged: string[];
  errors: string[];
}

/**
 * What applying a configuration needs of the running agent (agent.ts builds it): the live
 * configuration, its reflector and MQTT side to swap, its scheduler to diff, its heartbeat.
 */
export interface ApplyPort {
  readonly log: Logger;
  /** The live configuration and its hash. */
  live(): { config: AgentConfig; hash: string };
  /** Make `config` the live one, once every part took it (the heartbeat names its hash from then on). */
  adopt(config: AgentConfig, hash: string): void;
  /** The running reflector, if any. */
  reflector(): Reflector | undefined;
  /** Stop the running reflector and forget it. */
  stopReflector(): Promise<void>;
  /** A reflector for `config` (secrets read now), or undefined when it runs none. */
  buildReflector(config: AgentConfig): Reflector | undefined;
  /** Start `reflector` and make it the running one. */
  startReflector(reflector: Reflector): Promise<void>;
  /** Swap the MQTT side for `config`'s; on failure the previous one is restored and the error thrown. */
  replacePublishing(config: AgentConfig): Promise<void>;
  /** Run `config`'s tests: unchanged ones keep running. Returns test ids restarted/added/removed and kept. */
  applyTests(config: AgentConfig): Promise<{ changed: string[]; kept: string[] }>;
  heartbeat(): Promise<void>;
}

/**
 * Apply a validated configuration as a diff (SIGHUP, or a signed push):
 * - agent.site and agent.data_dir cannot change (a restart can);
 * - the reflector restarts only if its section or this site's entry changed, the MQTT connection
 *   only if mqtt / embedded_broker / this site's identity changed (new secrets are read first);
 * - if any part fails, the running parts stay (or are put back) and the previous configuration stays
 *   live: `errors` says why and the heartbeat keeps naming the old hash.
 * Returns what was applied (part names: "reflector", "mqtt", "test:<id>") and what was left alone.
 */
export async function applyConfig(
  port: ApplyPort,
  next: AgentConfig,
  nextHash: string,
): Promise<ApplyReport> {
  const { config: previous, hash: previousHash } = port.live();
  const report: ApplyReport = { applied: [], unchanged: [], errors: [] };
  if (next.agent.site !== previous.agent.site || next.agent.data_dir !== previous.agent.data_dir) {
    report.errors.push("agent.site and agent.data_dir cannot change on reload: restart the agent instead");
    return report;
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const siteSame = same(ownSite(previous), ownSite(next));
  const reflectorSame = siteSame && same(previous.reflector, next.reflector);
  const mqttSame =
    siteSame && same(previous.mqtt, next.mqtt) && same(previous.embedded_broker, next.embedded_broker);
  const refused = (): ApplyReport => {
    port.log.error(
      { errors: report.errors, config_hash: nextHash, live_config_hash: previousHash },
      "new configuration failed to apply; the previous one stays live",
    );
    return report;
  };

  // The reflector first: its port is the one thing two configurations cannot hold at once.
  if (!reflectorSame) {
    const old = port.reflector();
    try {
      const fresh = port.buildReflector(next);
      await port.stopReflector();
      if (fresh) await port.startReflector(fresh);
      report.applied.push("reflector");
    } catch (err) {
      report.errors.push(`reflector: ${(err as Error).message}`);
      if (old && !port.reflector()) {
        await port.startReflector(old).catch((e: unknown) => {
          report.errors.push(`reflector could not be restored: ${(e as Error).message}`);
        });
      }
      return refused();
    }
  } else report.unchanged.push("reflector");

  if (!mqttSame) {
    try {
      await port.replacePublishing(next);
      report.applied.push("mqtt");
    } catch (err) {
      report.errors.push(`mqtt: ${(err as Error).message}`);
      if (!reflectorSame) {
        // Put the previous reflector back, so nothing of the refused configuration stays live.
        await port.stopReflector();
        const back = port.buildReflector(previous);
        if (back) {
          await port.startReflector(back).catch((e: unknown) => {
            report.errors.push(`reflector could not be restored: ${(e as Error).message}`);
          });
        }
      }
      return refused();
    }
  } else report.unchanged.push("mqtt");

  port.adopt(next, nextHash);
  // A plan holds this site's entry too, so a change of identity restarts every test.
  const tests = await port.applyTests(next);
  report.applied.push(...tests.changed.map((id) => `test:${id}`));
  report.unchanged.push(...tests.kept.map((id) => `test:${id}`));
  port.log.info(
    { config_version: next.config_version, config_hash: nextHash, applied: report.applied },
    "configuration applied",
  );
  await port.heartbeat();
  return report;
}

function ownSite(config: AgentConfig) {
  return siteById(config, config.agent.site);
}
