import type { ApplyReport } from "./apply-config.js";
import type { Clock } from "./clock.js";
import type { AgentConfig } from "./config/schema.js";
import type { AgentControl, BrokerAddress } from "./control/agent-control.js";
import type { Logger } from "./log.js";
import type { AgentIdentity } from "./probe/runner.js";
import type { SiteTopics } from "./publish/topics.js";

/**
 * The agent's side of the control plane (signed configuration): opening the control part with its
 * pins and last-known-good, and a changed local file (SIGHUP) merged with the live signed mesh.
 */
export interface ControlPort {
  readonly log: Logger;
  readonly clock: Clock;
  readonly env: Record<string, string | undefined>;
  readonly dataDir: string;
  readonly identity: AgentIdentity;
  readonly topics: SiteTopics;
  /** The running control part, if any. */
  control: AgentControl | undefined;
  /** Where the agent's MQTT connection points (undefined before it is made). */
  brokerAddress(): BrokerAddress | undefined;
  /** Make `config` the live one without applying parts (start-up, before anything runs). */
  adoptAtStart(config: AgentConfig, hash: string): void;
  applyConfig(config: AgentConfig, hash: string): Promise<ApplyReport>;
  heartbeat(): Promise<void>;
}

/**
 * Pins and last-known-good: a reboot without a broker runs the last accepted signed configuration.
 * Returns undefined without a control section, else what was restored (null: nothing yet).
 */
export async function openControl(
  port: ControlPort,
  bootstrap: AgentConfig,
  adopt = true,
): Promise<{ config: AgentConfig; hash: string } | null | undefined> {
  if (!bootstrap.control) return undefined;
  // Loaded only with a control section: JWS (jose), the HTTPS source (undici) and the control MQTT
  // channel are ≈ 5 MiB of heap an agent without a signed-configuration control plane never uses.
  const { AgentControl } = await import("./control/agent-control.js");
  port.control = new AgentControl({
    bootstrap,
    dataDir: port.dataDir,
    identity: port.identity,
    topics: port.topics,
    log: port.log,
    clock: port.clock,
    env: port.env,
    // The SIGHUP path's entry point (a diff: unchanged tests keep running); refused parts throw here
    // so the signed configuration is rejected with their reason and the old one stays live.
    apply: async (config, hash) => {
      const report = await port.applyConfig(config, hash);
      if (report.errors.length > 0) throw new Error(report.errors.join("; "));
    },
    decided: () => void port.heartbeat(),
  });
  const restored = await port.control.restore();
  if (restored && adopt) port.adoptAtStart(restored.config, restored.hash);
  return restored;
}

/**
 * The local file changed (SIGHUP). With a control section it is the bootstrap: its local sections
 * (agent, mqtt, control) are merged with the live signed mesh before applying; without one, it is the
 * whole configuration, as before.
 */
export async function reloadLocal(
  port: ControlPort,
  next: AgentConfig,
  nextHash: string,
): Promise<ApplyReport> {
  if (!port.control && !next.control) return port.applyConfig(next, nextHash);
  if (!port.control) {
    // A control section appears: its last-known-good (if any) applies at once.
    const restored = await openControl(port, next, false);
    const report = await port.applyConfig(restored?.config ?? next, restored?.hash ?? nextHash);
    const address = port.brokerAddress();
    // openControl set it: TypeScript still holds the narrowing from the test above.
    if (address) (port.control as AgentControl | undefined)?.start(address);
    return report;
  }
  const effective = await port.control.localChanged(next, nextHash);
  if (!next.control) {
    port.control = undefined;
    return port.applyConfig(next, nextHash);
  }
  try {
    return await port.applyConfig(effective.config, effective.hash);
  } finally {
    port.control?.restart(port.brokerAddress());
  }
}
