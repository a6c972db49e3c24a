import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { connect } from "mqtt";
import { Agent } from "../agent/agent.js";
import { configHash, parseConfig } from "../agent/config/load.js";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import { EmbeddedBroker } from "../agent/publish/broker.js";
import { formatTailLine } from "../agent/tail.js";
import { PACKAGE_ROOT } from "../agent/version.js";
import { Collector } from "./collector.js";
import { parseCollectorConfig } from "./config.js";
import { openConfiguredStore } from "./store/open.js";

export interface DemoOptions {
  /** Where the agents' outboxes and the PGlite database live. */
  data_dir: string;
  /** The report's HTTP port on 127.0.0.1. */
  http_port: number;
  /** Stop after this many seconds (0 = until SIGINT/SIGTERM). */
  seconds: number;
}

const SITES = ["bj-demo-01", "gz-demo-01", "cd-demo-01"] as const;

/**
 * `npm start`: the whole system on loopback, in one process, with embedded defaults: an aedes broker,
 * the three sites of config/demo.yaml (Beijing, Guangzhou, Chengdu: different provinces, over 1000 km
 * apart) each an agent with its own reflector, a collector on PGlite, the report on 127.0.0.1, and a
 * line per result in the terminal. Real sockets and real measurements, only the distances are loopback.
 */
export async function runDemo(opts: DemoOptions, log: Logger): Promise<void> {
  const dataDir = resolve(opts.data_dir);
  await mkdir(dataDir, { recursive: true });
  const demoYamlPath = join(PACKAGE_ROOT, "config", "demo.yaml");
  const demoYaml = await readFile(demoYamlPath, "utf8");

  // Opening PGlite takes tens of seconds on a Pi: find a taken report port before that, not after.
  await assertPortFree(opts.http_port);
  const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0, log: log.child({ part: "broker" }) });
  await broker.start();
  const stops: (() => Promise<void>)[] = [() => broker.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((err: unknown) => log.warn({ err }, "demo part did not stop cleanly"));
  };

  try {
    // The collector first, so it is subscribed before the first result is published.
    const collectorYaml = [
      "version: 1",
      `mqtt: { url: "${broker.url}", protocol_version: 4, client_id: qosprobe-demo-collector }`,
      `database: { data_dir: ${JSON.stringify(join(dataDir, "pglite"))} }`,
      "ingest: { batch_size: 500, flush_interval_ms: 500 }",
      `http: { enabled: true, listen: "127.0.0.1:${opts.http_port}" }`,
      "report: { lang: en, period: all, window_days: 1 }",
      `sites_from: ${JSON.stringify(demoYamlPath)}`,
    ].join("\n");
    const collectorConfigPath = join(dataDir, "collector.yaml");
    await writeFile(collectorConfigPath, collectorYaml);
    const collectorConfig = parseCollectorConfig(collectorYaml, collectorConfigPath);
    const store = await openConfiguredStore(collectorConfig.database, log.child({ part: "store" }));
    const collector = new Collector({
      config: collectorConfig,
      store,
      log: log.child({ part: "collector" }),
    });
    stops.push(() => store.close());
    // Registered before start: a start that fails half-way (the report port taken) must still stop what
    // it began (ingest timer, MQTT clients), or the process prints the error and hangs.
    stops.push(() => collector.stop());
    await collector.start();

    // A line per result, as `qos-probe tail` would print it.
    const watcher = connect(broker.url, { protocolVersion: 4, clientId: "qosprobe-demo-tail" });
    watcher.on("connect", () => watcher.subscribe("qosprobe/v1/+/+/+/result/+", { qos: 0 }));
    watcher.on("message", (topic, payload) => {
      process.stdout.write(`${formatTailLine("qosprobe/v1", topic, payload, false)}\n`);
    });
    stops.push(() => watcher.endAsync());

    const agents: Agent[] = [];
    for (const site of SITES) {
      const env = { ...process.env, QOSPROBE_SITE: site, QOSPROBE_DATA_DIR: join(dataDir, "agents") };
      const bytes = `${demoYaml}\nmqtt: { url: "${broker.url}", protocol_version: 4 }\n`;
      const config = parseConfig(bytes, demoYamlPath, env);
      const agent = new Agent({ config, configHash: configHash(bytes), log: log.child({ site }), env });
      stops.push(() => agent.stop({ deadline_ms: 3_000 }));
      agents.push(agent);
      await agent.start({ tests: false });
    }
    // Every reflector is up: now the tests (a first interval against a reflector not yet started would
    // be a REFLECTOR_UNREACHABLE fault of the demo's own making).
    for (const agent of agents) agent.startTests();
    // Stops run in reverse: this one, registered last, runs first. Every agent's tests stop before any
    // agent's reflector does, so no peer test meets a reflector that has gone (REFLECTOR_UNREACHABLE).
    stops.push(async () => {
      await Promise.all(agents.map((a) => a.stopTests()));
    });

    const url = `http://127.0.0.1:${collector.httpAddress?.port ?? opts.http_port}/`;
    process.stdout.write(
      `\nqos-probe demo: 3 sites (Beijing, Guangzhou, Chengdu) measuring each other over loopback every 10 s.\n` +
        `  report      ${url}   (CSV: ${url}report.csv, JSON: ${url}report.json)\n` +
        `  broker      ${broker.url} (MQTT 3.1.1) — try: npx qos-probe tail --url ${broker.url} --protocol 4\n` +
        `  data        ${dataDir}\n` +
        `Loopback RTTs are faster than light over 1000+ km, so results carry the "rtt-below-light-bound" flag.\n` +
        `Ctrl-C stops everything.\n\n`,
    );

    await new Promise<void>((done) => {
      const timer = opts.seconds > 0 ? setTimeout(done, opts.seconds * 1000) : undefined;
      const onSignal = () => {
        if (timer) clearTimeout(timer);
        done();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    });
    log.info("demo stopping");
  } finally {
    await stopAll();
  }
}

/** Refuse at once when the report's port is taken (the report server would, but only after PGlite). */
async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new QosProbeError(
          "USAGE",
          `report server cannot listen on 127.0.0.1:${port}: ${err.code ?? err.message}`,
          {
            hint: "stop what uses the port, or pick another with --port",
            cause: err,
          },
        ),
      ),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}
