import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MqttPublisher } from "../../../agent/publish/mqtt.js";
import { Outbox } from "../../../agent/publish/outbox.js";
import { DEFAULT_TOPIC_ROOT, resultTopic, statusTopic } from "../../../agent/publish/topics.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

const site = { root: DEFAULT_TOPIC_ROOT, operator: "ct", province: "SH", site: "sh-01" };

let broker: PrivateMosquitto;
let dir: string;

beforeAll(async () => {
  // Anonymous clients may only publish status: result publishes get PUBACK 0x87 "Not authorized".
  broker = await startMosquitto({ acl: [`topic readwrite ${DEFAULT_TOPIC_ROOT}/+/+/+/status`] });
  dir = await mkdtemp(join(tmpdir(), "qosprobe-refused-"));
});

afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("MqttPublisher against a broker that refuses the topic", () => {
  it("counts the failures, keeps the records and retries after a pause", async () => {
    const outbox = new Outbox({ dir, max_bytes: 1_000_000, max_age_ms: 3_600_000 });
    await outbox.open();
    const publisher = new MqttPublisher({
      url: broker.url,
      protocolVersion: 5,
      clientId: "agent-sh-01",
      keepalive: 30,
      will: { topic: statusTopic(site), payload: "offline", retain: true, qos: 1 },
      reconnect: { initial_ms: 50, max_ms: 100 },
    });
    try {
      publisher.start();
      publisher.drain(outbox);
      for (let i = 0; i < 3; i++) await outbox.append(resultTopic(site, "t1"), Buffer.from(`r${i}`));
      // 3 records refused once (3 failures), then at least one retry round after the pause (≥ 6).
      const started = performance.now();
      while (publisher.counters().failed < 6 && performance.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const counters = publisher.counters();
      expect(counters.failed).toBeGreaterThanOrEqual(6);
      expect(counters.acked).toBe(0);
      expect(counters.published).toBe(counters.failed + publisher.inFlightCount());
      expect(outbox.depth()).toBe(3);
      // The status topic is allowed, so the connection itself is fine.
      await publisher.publishRetained(statusTopic(site), "online");
    } finally {
      await publisher.stop({ deadline_ms: 0 });
      await outbox.close();
    }
  });
});
