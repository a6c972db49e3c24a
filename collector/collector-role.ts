import type { Logger } from "../agent/log.js";
import { persistentClientId } from "./client-id.js";
import { brokerCredentials, Collector } from "./collector.js";
import { loadCollectorConfig } from "./config.js";
import { missingCollectorFlags } from "./node-flags.js";
import { describeDatabase, openConfiguredStore } from "./store/open.js";

/** How long SIGTERM may take before the process gives up waiting (systemd's default stop timeout is 90 s). */
const STOP_DEADLINE_MS = 20_000;

/**
 * `qos-probe collector --config collector.yaml`: run until SIGINT/SIGTERM, then stop in order (ingest
 * flush and acks, MQTT disconnect keeping the session, report server, store).
 */
export async function runCollectorRole(configPath: string, log: Logger): Promise<void> {
  const config = loadCollectorConfig(configPath);
  // The broker's credentials before anything is written: a missing secret must not leave a new PGlite
  // store or client id file behind (nothing half-applied).
  brokerCredentials(config);
  if (!config.mqtt.client_id_explicit) config.mqtt.client_id = await persistentClientId(config.data_dir);
  log.info(
    { mqtt: config.mqtt.url, client_id: config.mqtt.client_id, database: describeDatabase(config.database) },
    "collector starting",
  );
  const missing = missingCollectorFlags();
  if (missing.length > 0)
    log.info(
      { missing_node_flags: missing },
      `collector started without ${missing.join(" ")}: ingest under a backlog is ≈ 8 % slower; ` +
        `start it as node ${missing.join(" ")} … or with NODE_OPTIONS=${missing.join(" ")} (collector/node-flags.ts)`,
    );
  const store = await openConfiguredStore(config.database, log);
  const collector = new Collector({ config, store, log });
  try {
    await collector.start();
  } catch (err) {
    await collector.stop().catch(() => {});
    await store.close();
    throw err;
  }
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  log.info({ signal }, "collector stopping");
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.error({ deadline_ms: STOP_DEADLINE_MS }, "collector: stop took too long; exiting anyway");
      resolve();
    }, STOP_DEADLINE_MS);
    timer.unref();
  });
  await Promise.race([collector.stop(), deadline]);
  clearTimeout(timer);
  await store.close();
}
