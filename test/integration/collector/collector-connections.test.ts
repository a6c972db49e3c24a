import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { Collector } from "../../../collector/collector.js";
import { parseCollectorConfig } from "../../../collector/config.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * Several MQTT connections in one collector (one share group, a session each) and a large backlog
 * drained without a keepalive drop. A private Mosquitto; every wait is bounded and polls.
 */
const WAIT_MS = 60_000;

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  const until = performance.now() + WAIT_MS;
  while (performance.now() < until) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Publish at QoS 1 with up to 100 unacknowledged at once (the broker's PUBACK = it is queued). */
async function publishAll(client: MqttClient, results: readonly ResultMessage[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < results.length) {
      const r = results[next];
      next += 1;
      if (r) await client.publishAsync(resultTopic(r), JSON.stringify(r), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
}

/** `n` results one minute apart from `start`, with seq from `firstSeq`. */
function results(n: number, start: string, firstSeq: number): ResultMessage[] {
  return Array.from({ length: n }, (_, i) =>
    makeResult({
      seq: firstSeq + i,
      intervalStart: new Date(Date.parse(start) + i * 60_000).toISOString(),
    }),
  );
}

for (const backend of backends) {
  describe(`collector connections on ${backend.name}`, () => {
    let broker: PrivateMosquitto;
    let store: ResultStore;
    let dispose: () => Promise<void>;
    let publisher: MqttClient;
    const running: Collector[] = [];

    function collector(clientId: string, group: string, mqttExtra: string): Collector {
      const yaml = [
        "version: 1",
        `mqtt: { url: "${broker.url}", client_id: ${clientId}, share_group: ${group}, ${mqttExtra} }`,
        "http: { enabled: false }",
      ].join("\n");
      const c = new Collector({
        config: parseCollectorConfig(yaml, "test.yaml", {}),
        store,
        log: silentLogger(),
      });
      running.push(c);
      return c;
    }

    beforeAll(async () => {
      broker = await startMosquitto();
      ({ store, dispose } = await backend.open());
      await store.migrate();
      publisher = await connectAsync(broker.url, {
        protocolVersion: 5,
        clientId: `pub-conn-${backend.name}`,
      });
      // PGlite's first open alone took 10–12 s on the shared 2-core box (load 6–13).
    }, 60_000);

    afterEach(async () => {
      for (const c of running.splice(0)) await c.stop();
    });

    afterAll(async () => {
      await publisher?.endAsync();
      await dispose?.();
      await broker?.stop();
    });

    it("splits results over 3 connections of one collector and stores each exactly once", async () => {
      const c = collector(`c-three-${backend.name}`, "g-three", "connections: 3");
      await c.start();
      await waitFor("3 connections subscribed", () => c.counters().connections.every((x) => x.subscribed));
      const sent = results(300, "2026-06-01T00:00:00Z", 1);
      await publishAll(publisher, sent);
      // Nothing is retained on the status topic in this file: every delivery is one of the 300.
      await waitFor("300 deliveries acknowledged", () => c.counters().acked >= 300);

      const n = c.counters();
      expect(n.connections.map((x) => x.client_id)).toEqual([
        `c-three-${backend.name}-0`,
        `c-three-${backend.name}-1`,
        `c-three-${backend.name}-2`,
      ]);
      // Mosquitto shares the group between all three; together they saw each result once.
      for (const x of n.connections) expect(x.deliveries).toBeGreaterThan(0);
      expect(n.connections.reduce((sum, x) => sum + x.deliveries, 0)).toBe(300);
      expect({
        stored: n.stored,
        duplicates: n.duplicates,
        rejected: n.rejected,
        withheld: n.withheld,
      }).toEqual({
        stored: 300,
        duplicates: 0,
        rejected: 0,
        withheld: 0,
      });
      const rows = await store.queryResults({
        from: new Date("2026-06-01T00:00:00Z"),
        to: new Date("2026-06-02T00:00:00Z"),
      });
      expect(rows.map((r) => r.seq)).toEqual(sent.map((r) => r.seq));
    }, 90_000);

    // PostgreSQL only: 60,000 results are a ~6 s drain there, longer than keepalive 2 s × 1.5 (without
    // the fix this test sees "Keepalive timeout"); the same backlog would take PGlite far longer.
    // Registered for PostgreSQL only (not skipped elsewhere): PGlite cannot show the bug in a bounded time.
    (backend.name === "postgres" ? it : () => undefined)(
      "drains a backlog queued while it was down, without a keepalive timeout",
      async () => {
        // Mosquitto queues the whole backlog for the resumed session at once, and a PINGRESP behind it;
        // 2 s keepalive: mqtt.js pings after 2 s of no ping reset and gives up 1 s later.
        const mqttExtra = "connections: 1, keepalive_s: 2";
        const first = collector(`c-backlog-${backend.name}`, "g-backlog", mqttExtra);
        await first.start();
        await waitFor("subscribed", () => first.counters().connections.every((x) => x.subscribed));
        await first.stop();
        const n = 60_000;
        // 60,000 minutes = 41.7 days from 2026-07-01: all before 2026-09-01.
        const sent = results(n, "2026-07-01T00:00:00Z", 1);
        await publishAll(publisher, sent);

        const second = collector(`c-backlog-${backend.name}`, "g-backlog", mqttExtra);
        await second.start();
        await waitFor(`${n} results stored`, () => second.counters().stored >= n);
        const c = second.counters();
        expect({
          stored: c.stored,
          duplicates: c.duplicates,
          connects: c.connects,
          disconnects: c.disconnects,
        }).toEqual({ stored: n, duplicates: 0, connects: 1, disconnects: 0 });
        const rows = await store.queryResults({
          from: new Date("2026-07-01T00:00:00Z"),
          to: new Date("2026-09-01T00:00:00Z"),
        });
        expect(rows).toHaveLength(n);
      },
      // A bound, not a speed goal: each batch now also updates the window table, and the machine the
      // suite runs on may be shared (bench:report measures ingest speed).
      300_000,
    );
  });
}
