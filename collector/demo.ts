import { existsSync } from "node:fs";
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
import { WINDOW_MS } from "./windows.js";

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
export async function runDemo(
  opts: DemoOptions,
  log: Logger,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<void> {
  const dataDir = resolve(opts.data_dir);
  const began = Date.now();
  // Start-up takes tens of seconds (PGlite's first initdb above all): say what is happening meanwhile.
  const step = (what: string, text: string) =>
    out(`  ${what.padEnd(10)}  ${text}  [${((Date.now() - began) / 1000).toFixed(1)} s]`);
  out(`qos-probe demo: starting in ${dataDir} (Ctrl-C stops everything)`);
  await mkdir(dataDir, { recursive: true });
  const demoYamlPath = join(PACKAGE_ROOT, "config", "demo.yaml");
  const demoYaml = await readFile(demoYamlPath, "utf8");

  // Opening PGlite takes tens of seconds on a Pi: find a taken report port before that, not after.
  await assertPortFree(opts.http_port);
  const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0, log: log.child({ part: "broker" }) });
  await broker.start();
  step("broker", `embedded MQTT 3.1.1 broker on ${broker.url}`);
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
    const pgliteDir = join(dataDir, "pglite");
    step(
      "database",
      existsSync(join(pgliteDir, "PG_VERSION"))
        ? `opening PGlite in ${pgliteDir}…`
        : `creating PGlite in ${pgliteDir} (first run: up to a minute on a small machine)…`,
    );
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
    step("collector", "subscribed to results; report server listening");

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
      step("agent", `${site} started: its reflector (its tests start once every reflector is up)`);
    }
    // Every reflector is up: now the tests (a first interval against a reflector not yet started would
    // be a REFLECTOR_UNREACHABLE fault of the demo's own making).
    for (const agent of agents) agent.startTests();
    const first = firstIntervalEnd(demoYaml, Date.now());
    step(
      "tests",
      `started on ${agents.length} sites; the first ${first.interval_s} s interval ends at ${clockTime(first.end_ms)} UTC`,
    );
    // Stops run in reverse: this one, registered last, runs first. Every agent's tests stop before any
    // agent's reflector does, so no peer test meets a reflector that has gone (REFLECTOR_UNREACHABLE).
    stops.push(async () => {
      await Promise.all(agents.map((a) => a.stopTests()));
    });

    const port = collector.httpAddress?.port ?? opts.http_port;
    // From the demo's first window: the collector's default range is the last day, whose windows
    // before the demo began count as expected and unmeasured.
    const since = new Date(Math.floor(began / WINDOW_MS) * WINDOW_MS).toISOString().replace(".000Z", "Z");
    const url = `http://127.0.0.1:${port}/?from=${since}`;
    process.stdout.write(
      `\nqos-probe demo: 3 sites (Beijing, Guangzhou, Chengdu) measuring each other over loopback every 10 s.\n` +
        `  report      ${url}\n` +
        `              (CSV: http://127.0.0.1:${port}/report.csv?from=${since}, JSON: …/report.json?from=${since})\n` +
        `  broker      ${broker.url} (MQTT 3.1.1) — try: npx qos-probe tail --url ${broker.url} --protocol 4\n` +
        `  data        ${dataDir}\n` +
        `Loopback RTTs are faster than light over 1000+ km, so results carry the "rtt-below-light-bound" flag.\n` +
        `Ctrl-C stops everything.\n`,
    );
    out(
      `One line per result below, as each interval ends; the report's first 5-minute window closes at ` +
        `${clockTime(Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS)} UTC.\n`,
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

/** "17:53:10" of an epoch-ms instant, UTC. */
function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/**
 * When the demo's first results are due: continuous tests start at the next wall-clock boundary of
 * their interval (schedule.ts) and publish when that interval ends.
 */
export function firstIntervalEnd(demoYaml: string, now_ms: number): { interval_s: number; end_ms: number } {
  const intervals = [...demoYaml.matchAll(/continuous:\s*\{\s*interval_s:\s*(\d+)/g)].map((m) =>
    Number(m[1]),
  );
  const interval_s = intervals.length > 0 ? Math.min(...intervals) : 10;
  const ms = interval_s * 1000;
  return { interval_s, end_ms: Math.ceil(now_ms / ms) * ms + ms };
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
