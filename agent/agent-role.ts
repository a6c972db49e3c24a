import { readFile } from "node:fs/promises";
import { Agent } from "./agent.js";
import { configHash, parseConfig } from "./config/load.js";
import type { AgentConfig } from "./config/schema.js";
import { ConfigError, QosProbeError } from "./errors.js";
import type { Logger } from "./log.js";

/** How long SIGTERM gives the agent to flush its outbox before it disconnects anyway. */
const STOP_DEADLINE_MS = 10_000;

async function readConfig(path: string): Promise<{ config: AgentConfig; hash: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${path}: ${(err as Error).message}`, {
      hint: "give the path of the agent's YAML configuration with --config",
      cause: err,
    });
  }
  return { config: parseConfig(bytes, path), hash: configHash(bytes) };
}

/**
 * `qos-probe agent --config FILE`: run the daemon until SIGTERM/SIGINT. SIGHUP re-reads the file; an
 * invalid new configuration is refused with every problem logged, and the running one stays.
 */
export async function runAgentRole(
  configPath: string,
  log: Logger,
  opts: { logLevelFromCli?: string } = {},
): Promise<void> {
  const { config, hash } = await readConfig(configPath);
  // --log-level given on the command line wins over agent.log_level (a person debugging now beats the
  // file); without it the file's level applies, at start and at every SIGHUP.
  const applyLogLevel = (fromFile: string) => {
    log.level = opts.logLevelFromCli ?? fromFile;
  };
  applyLogLevel(config.agent.log_level);
  const agent = new Agent({ config, configHash: hash, log });
  await agent.start();
  log.info(
    { site: config.agent.site, config: configPath, config_hash: hash, data_dir: agent.dataDir },
    `agent ${config.agent.site} running`,
  );

  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      try {
        const next = await readConfig(configPath);
        const report = await agent.reloadLocal(next.config, next.hash);
        if (report.errors.length === 0) {
          applyLogLevel(next.config.agent.log_level);
          log.info(
            { applied: report.applied, unchanged: report.unchanged, config_hash: next.hash },
            `configuration ${next.hash} live: ${report.applied.length} parts applied, ${report.unchanged.length} unchanged`,
          );
        }
      } catch (err) {
        if (err instanceof ConfigError) {
          log.error(
            { problems: err.issues.length },
            `new configuration refused, the running one stays:\n${err.message}`,
          );
        } else {
          log.error({ err }, "reload failed, the running configuration stays");
        }
      }
    });
  };
  process.on("SIGHUP", onHup);

  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  process.off("SIGHUP", onHup);
  log.info({ signal }, "agent stopping");
  await reloading;
  // A second signal while stopping means "now": the outbox keeps whatever was not delivered.
  const force = () => process.exit(1);
  process.once("SIGTERM", force);
  process.once("SIGINT", force);
  await agent.stop({ deadline_ms: STOP_DEADLINE_MS });
  log.info("agent stopped");
}
