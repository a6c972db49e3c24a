import { randomBytes } from "node:crypto";
import { connectAsync } from "mqtt";
import pg from "pg";
import { createLogger } from "../../agent/log.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { Collector } from "../../collector/collector.js";
import { parseCollectorConfig } from "../../collector/config.js";
import { openPostgresStore } from "../../collector/store/postgres.js";
import { startMosquitto } from "../lab/mosquitto.js";
import { buildResult, resultTopic } from "../lab/result-factory.js";

/**
 * Collector throughput: a private Mosquitto, a Collector on a fresh PostgreSQL database, PUBLISHERS
 * MQTT 5 clients publishing BENCH_MESSAGES valid results at QoS 1. Prints the publish rate, the ingest
 * rate (first stored → last stored), the count check and the collector's MQTT reconnects (a keepalive
 * timeout while the backlog drains shows up there). BENCH_CONNECTIONS sets mqtt.connections (default:
 * the config default). PostgreSQL: QOSPROBE_BENCH_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres; the bench database is dropped at the end.
 */
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const CONNECTIONS = process.env.BENCH_CONNECTIONS ? Number(process.env.BENCH_CONNECTIONS) : undefined;
const PUBLISHERS = 8;
/** Unacknowledged publishes per publisher: keeps the broker busy without unbounded memory. */
const WINDOW = 200;
const DEADLINE_MS = 30 * 60_000;
const ADMIN_URL = process.env.QOSPROBE_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Interval i of 50 sites, one minute apart; built unvalidated to keep schema checks out of the timed loop. */
function result(i: number): ResultMessage {
  return buildResult({
    seq: i + 1,
    site: `s${i % 50}`,
    operator: "op-bench",
    testId: "bench-stamp",
    intervalStart: new Date(Date.parse("2026-01-01T00:00:00Z") + i * 60_000).toISOString(),
  });
}

async function publishShare(url: string, n: number, first: number): Promise<void> {
  const client = await connectAsync(url, { protocolVersion: 5, clientId: `bench-pub-${first}`, clean: true });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = first + next;
      next += 1;
      const msg = result(i);
      await client.publishAsync(resultTopic(msg), JSON.stringify(msg), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  await client.endAsync();
}

async function main(): Promise<void> {
  const dbName = `qosprobe_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const broker = await startMosquitto();
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const log = createLogger({ level: "warn" });
  const store = openPostgresStore({ url: dbUrl.toString(), log });
  const connections = CONNECTIONS === undefined ? "" : `, connections: ${CONNECTIONS}`;
  const config = parseCollectorConfig(
    `version: 1\nmqtt: { url: "${broker.url}", client_id: bench-collector${connections} }\nhttp: { enabled: false }\n`,
    "bench.yaml",
    {},
  );
  const collector = new Collector({ config, store, log });
  try {
    await collector.start();
    // Every connection's share-group subscription granted before the first publish.
    const subscribed = performance.now() + 10_000;
    while (!collector.counters().connections.every((c) => c.subscribed)) {
      if (performance.now() > subscribed) throw new Error("the collector did not subscribe within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }

    let firstStored = 0;
    let lastStored = 0;
    let seen = 0;
    const watch = setInterval(() => {
      const stored = collector.counters().stored;
      const now = performance.now();
      if (stored > 0 && firstStored === 0) firstStored = now;
      if (stored > seen) {
        seen = stored;
        lastStored = now;
      }
    }, 5);

    const t0 = performance.now();
    const per = Math.ceil(MESSAGES / PUBLISHERS);
    await Promise.all(
      Array.from({ length: PUBLISHERS }, (_, p) =>
        publishShare(broker.url, Math.max(0, Math.min(per, MESSAGES - p * per)), p * per),
      ),
    );
    const published = performance.now() - t0;
    const until = performance.now() + DEADLINE_MS;
    while (collector.counters().stored < MESSAGES && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    clearInterval(watch);
    const c = collector.counters();
    const ingestS = (lastStored - firstStored) / 1000;
    console.log(`messages:        ${MESSAGES} (${PUBLISHERS} publishers, ${WINDOW} in flight each, QoS 1)`);
    console.log(
      `publish rate:    ${Math.round(MESSAGES / (published / 1000))} msg/s (${(published / 1000).toFixed(1)} s)`,
    );
    console.log(
      `ingest rate:     ${Math.round((c.stored - 1) / ingestS)} msg/s into PostgreSQL (first→last stored ${ingestS.toFixed(1)} s)`,
    );
    console.log(
      `count check:     stored ${c.stored} == ${MESSAGES}: ${c.stored === MESSAGES ? "OK" : "MISMATCH"} (duplicates ${c.duplicates}, rejected ${c.rejected})`,
    );
    console.log(
      `mqtt:            ${c.connections.length} connections, ${c.disconnects} disconnects, ${c.withheld} withheld, deliveries ${c.connections.map((x) => x.deliveries).join("/")}`,
    );
    if (c.stored !== MESSAGES) process.exitCode = 1;
  } finally {
    await collector.stop();
    await store.close();
    await broker.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
