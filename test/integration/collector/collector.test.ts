import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { Collector } from "../../../collector/collector.js";
import { parseCollectorConfig } from "../../../collector/config.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * The collector end to end: a private Mosquitto, MQTT 5 publishers, and each store backend.
 * Every wait is bounded (WAIT_MS) and polls; nothing asserts on timing.
 */
const WAIT_MS = 15_000;
const STATUS_TOPIC = "qosprobe/v1/op-a/BJ/bj-01/status";

async function waitFor(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const until = performance.now() + WAIT_MS;
  while (performance.now() < until) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function statusBody(state: "online" | "offline", extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    schema: "qosprobe.status/1",
    state,
    site: "bj-01",
    operator: "op-a",
    province: "BJ",
    ...extra,
  });
}

for (const backend of backends) {
  describe(`collector on ${backend.name}`, () => {
    let broker: PrivateMosquitto;
    let store: ResultStore;
    let dispose: () => Promise<void>;
    let publisher: MqttClient;
    const running: Collector[] = [];

    /**
     * Each test has its own share group: Mosquitto goes on handing a group's messages to members that
     * are offline with a persistent session, so an earlier test's stopped collector would take a share.
     */
    function collector(clientId: string, group: string): Collector {
      const yaml = [
        "version: 1",
        `mqtt: { url: "${broker.url}", client_id: ${clientId}, share_group: ${group}, keepalive_s: 10 }`,
        "http: { enabled: false }",
        "ingest: { flush_interval_ms: 50 }",
      ].join("\n");
      const c = new Collector({
        config: parseCollectorConfig(yaml, "test.yaml", {}),
        store,
        log: silentLogger(),
      });
      running.push(c);
      return c;
    }

    /**
     * A retained status makes every new subscriber see one delivery: proof its SUBSCRIBE was granted
     * (the first connection takes status); the other connections report their SUBACK.
     */
    async function startSubscribed(c: Collector): Promise<void> {
      await c.start();
      await waitFor("the retained status", () => c.counters().statuses >= 1);
      await waitFor("every connection subscribed", () => c.counters().connections.every((x) => x.subscribed));
    }

    beforeAll(async () => {
      broker = await startMosquitto();
      ({ store, dispose } = await backend.open());
      await store.migrate();
      publisher = await connectAsync(broker.url, { protocolVersion: 5, clientId: `pub-${backend.name}` });
      await publisher.publishAsync(STATUS_TOPIC, statusBody("online"), { qos: 1, retain: true });
    }, 30_000);

    afterEach(async () => {
      for (const c of running.splice(0)) await c.stop();
    });

    afterAll(async () => {
      await publisher?.endAsync();
      await dispose?.();
      await broker?.stop();
    });

    it("stores N valid results once, counts the duplicate, keeps the malformed one with its reason", async () => {
      const c = collector(`c-basic-${backend.name}`, "g-basic");
      await startSubscribed(c);
      const results = Array.from({ length: 12 }, (_, i) =>
        makeResult({ seq: i + 1, intervalStart: `2026-02-01T10:${String(i).padStart(2, "0")}:00.000Z` }),
      );
      for (const r of results) await publisher.publishAsync(resultTopic(r), JSON.stringify(r), { qos: 1 });
      const first = results[0];
      if (!first) throw new Error("no results");
      await publisher.publishAsync(resultTopic(first), JSON.stringify(first), { qos: 1 });
      await publisher.publishAsync("qosprobe/v1/op-a/BJ/bj-01/result/bj-gz-stamp", "{not json", { qos: 1 });

      // 12 distinct ids + 1 repeat of the first + 1 unparsable body, after the 1 retained status
      await waitFor("15 deliveries acknowledged", () => c.counters().acked >= 15);
      const n = c.counters();
      expect({ stored: n.stored, duplicates: n.duplicates, rejected: n.rejected }).toEqual({
        stored: 12,
        duplicates: 1,
        rejected: 1,
      });
      const rows = await store.queryResults({
        from: new Date("2026-02-01T00:00:00Z"),
        to: new Date("2026-02-02T00:00:00Z"),
      });
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      const rejects = await store.queryRejects({
        from: new Date(Date.now() - 3_600_000),
        to: new Date(Date.now() + 60_000),
      });
      expect(rejects).toHaveLength(1);
      expect(rejects[0]?.topic).toBe("qosprobe/v1/op-a/BJ/bj-01/result/bj-gz-stamp");
      expect(rejects[0]?.reason).toMatch(/^invalid JSON: /);
    }, 30_000);

    it("receives what was published while it was down, after a restart with the same client id", async () => {
      const first = collector(`c-restart-${backend.name}`, "g-restart");
      await startSubscribed(first);
      await first.stop();
      const queued = Array.from({ length: 8 }, (_, i) =>
        makeResult({ seq: 100 + i, intervalStart: `2026-03-01T10:0${i}:00.000Z` }),
      );
      // PUBACK from the broker: each is queued in the absent collector's session.
      for (const r of queued) await publisher.publishAsync(resultTopic(r), JSON.stringify(r), { qos: 1 });

      const second = collector(`c-restart-${backend.name}`, "g-restart");
      await second.start();
      await waitFor("8 queued results stored", () => second.counters().stored >= 8);
      const rows = await store.queryResults({
        from: new Date("2026-03-01T00:00:00Z"),
        to: new Date("2026-03-02T00:00:00Z"),
      });
      expect(rows.map((r) => r.seq)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    }, 30_000);

    it("splits one share group's results between two collectors, each stored once", async () => {
      const a = collector(`c-share-a-${backend.name}`, "g-share");
      const b = collector(`c-share-b-${backend.name}`, "g-share");
      await Promise.all([startSubscribed(a), startSubscribed(b)]);
      const n = 30;
      const results = Array.from({ length: n }, (_, i) =>
        makeResult({
          seq: 200 + i,
          intervalStart: new Date(Date.parse("2026-04-01T00:00:00Z") + i * 60_000).toISOString(),
        }),
      );
      for (const r of results) await publisher.publishAsync(resultTopic(r), JSON.stringify(r), { qos: 1 });
      // Stored, not just accepted: a batch may still be in its INSERT when the last one is accepted.
      await waitFor("30 results stored between both", () => a.counters().stored + b.counters().stored >= n);
      const [ca, cb] = [a.counters(), b.counters()];
      expect(ca.accepted).toBeGreaterThan(0);
      expect(cb.accepted).toBeGreaterThan(0);
      expect(ca.accepted + cb.accepted).toBe(n);
      expect(ca.stored + cb.stored).toBe(n);
      const rows = await store.queryResults({
        from: new Date("2026-04-01T00:00:00Z"),
        to: new Date("2026-04-02T00:00:00Z"),
      });
      expect(rows).toHaveLength(n);
    }, 30_000);

    it("records a site online from its heartbeat, then offline from its Last Will", async () => {
      const c = collector(`c-status-${backend.name}`, "g-status");
      await startSubscribed(c);
      await publisher.publishAsync(
        STATUS_TOPIC,
        statusBody("online", {
          version: "0.1.0",
          config_version: "2026-05",
          at: "2026-05-01T08:00:00.000Z",
          outbox: { depth: 3, dropped: 1, bytes: 2048 },
          clock: { synced: true },
          host: null,
        }),
        { qos: 1, retain: true },
      );
      await waitFor(
        "heartbeat stored",
        async () => (await store.listSites())[0]?.config_version === "2026-05",
      );
      const online = (await store.listSites())[0];
      expect(online).toMatchObject({
        operator: "op-a",
        province: "BJ",
        site: "bj-01",
        state: "online",
        outbox_depth: 3,
        dropped: 1,
        version: "0.1.0",
        config_version: "2026-05",
      });
      expect(online?.last_heartbeat?.toISOString()).toBe("2026-05-01T08:00:00.000Z");

      await publisher.publishAsync(STATUS_TOPIC, statusBody("offline"), { qos: 1, retain: true });
      await waitFor("Last Will stored", async () => (await store.listSites())[0]?.state === "offline");
      const offline = (await store.listSites())[0];
      // The Will carries no heartbeat time, outbox or version: the last known ones stay.
      expect(offline).toMatchObject({ state: "offline", outbox_depth: 3, version: "0.1.0" });
      expect(offline?.last_heartbeat?.toISOString()).toBe("2026-05-01T08:00:00.000Z");
    }, 30_000);
  });
}
