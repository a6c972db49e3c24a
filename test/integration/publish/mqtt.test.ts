import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MqttPublisher, type MqttPublisherOptions } from "../../../agent/publish/mqtt.js";
import { Outbox } from "../../../agent/publish/outbox.js";
import { DEFAULT_TOPIC_ROOT, parseTopic, resultTopic, statusTopic } from "../../../agent/publish/topics.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

const site = { root: DEFAULT_TOPIC_ROOT, operator: "ct", province: "GD", site: "gz-01" };
const testIdFor = (seq: number) => `test-${seq % 4}`;

let broker: PrivateMosquitto;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});

afterAll(async () => {
  await broker?.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qosprobe-publish-"));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function subscriber(
  clientId: string,
  durable: boolean,
): Promise<{ client: MqttClient; seqs: number[] }> {
  const client = await connectAsync(broker.url, {
    protocolVersion: 5,
    clientId,
    clean: !durable,
    properties: durable ? { sessionExpiryInterval: 600 } : {},
    reconnectPeriod: durable ? 200 : 0,
  });
  cleanups.push(() => client.endAsync(true));
  const seqs: number[] = [];
  client.on("message", (topic, payload) => {
    const seq = (JSON.parse(payload.toString()) as { seq: number }).seq;
    const parsed = parseTopic(DEFAULT_TOPIC_ROOT, topic);
    // A record on the wrong topic would fail the ordering/gap checks below as a missing seq.
    if (parsed?.kind === "result" && parsed.site === site.site && parsed.testId === testIdFor(seq))
      seqs.push(seq);
  });
  await client.subscribeAsync(`${DEFAULT_TOPIC_ROOT}/+/+/+/result/+`, { qos: 1 });
  return { client, seqs };
}

async function agent(overrides: Partial<MqttPublisherOptions> = {}) {
  const outbox = new Outbox({ dir, max_bytes: 16 * 1024 * 1024, max_age_ms: 3_600_000 });
  await outbox.open();
  const publisher = new MqttPublisher({
    url: broker.url,
    protocolVersion: 5,
    clientId: "agent-gz-01",
    keepalive: 30,
    will: { topic: statusTopic(site), payload: "offline", retain: true, qos: 1 },
    reconnect: { initial_ms: 100, max_ms: 400 },
    ...overrides,
  });
  cleanups.push(() => outbox.close());
  cleanups.push(() => publisher.stop({ deadline_ms: 0 }));
  publisher.start();
  publisher.drain(outbox);
  return { outbox, publisher };
}

function appendResults(outbox: Outbox, count: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, () => {
      // seq is assigned synchronously in call order, so the topic can be derived from nextSeq().
      const seq = outbox.nextSeq();
      return outbox.append(resultTopic(site, testIdFor(seq)), (s) => Buffer.from(JSON.stringify({ seq: s })));
    }),
  );
}

describe("MqttPublisher with a private Mosquitto", () => {
  it("delivers 200 outbox records on their topics, in seq order, and empties the outbox", async () => {
    const sub = await subscriber("collector-1", false);
    const { outbox, publisher } = await agent();
    const seqs = await appendResults(outbox, 200);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await waitFor(
      "200 results and an empty outbox",
      () => sub.seqs.length >= 200 && outbox.depth() === 0,
      15_000,
    );
    // One connection, one publisher: the broker keeps its order, so we see 1..200 exactly once each.
    expect(sub.seqs).toEqual(seqs);
    expect(publisher.counters()).toEqual({ published: 200, acked: 200, failed: 0, not_delivered: 0 });
    expect(publisher.inFlightCount()).toBe(0);
  });

  it("loses nothing when the broker is down for 2 s mid-run", async () => {
    const sub = await subscriber("collector-durable", true);
    const { outbox, publisher } = await agent();
    const disconnects: string[] = [];
    publisher.on("disconnected", (reason) => disconnects.push(reason));

    await appendResults(outbox, 150);
    await waitFor("the first results", () => sub.seqs.length >= 30, 10_000);
    const restart = broker.restart(2_000);
    // Results keep coming while the broker is away; they wait in the outbox.
    for (let burst = 0; burst < 15; burst++) {
      await appendResults(outbox, 10);
      await new Promise((r) => setTimeout(r, 50));
    }
    const depthDuringOutage = outbox.depth();
    await restart;
    const expected = Array.from({ length: 300 }, (_, i) => i + 1);
    await waitFor(
      "all 300 seqs after the restart",
      () => new Set(sub.seqs).size === 300 && outbox.depth() === 0,
      20_000,
    );
    const unique = [...new Set(sub.seqs)].sort((a, b) => a - b);
    expect(unique).toEqual(expected); // gaps = 0
    const duplicates = sub.seqs.length - unique.length; // QoS 1 is at-least-once: allowed, only counted
    expect(duplicates).toBeGreaterThanOrEqual(0);
    // The outage really happened mid-run: results were waiting, and the publisher saw the connection go.
    expect(depthDuringOutage).toBeGreaterThan(0);
    expect(disconnects.length).toBeGreaterThanOrEqual(1);
    expect(publisher.counters().acked).toBeGreaterThanOrEqual(300);
    expect(publisher.counters().failed).toBe(0);
  }, 40_000);

  it("never has more than maxInFlight publishes unacknowledged", async () => {
    const sub = await subscriber("collector-3", false);
    const { outbox, publisher } = await agent({ clientId: "agent-window", maxInFlight: 5 });
    let most = 0;
    // Sampled on every delivery and append: the window may never be seen above 5.
    sub.client.on("message", () => {
      most = Math.max(most, publisher.inFlightCount());
    });
    outbox.on("appended", () => {
      most = Math.max(most, publisher.inFlightCount());
    });
    await appendResults(outbox, 100);
    await waitFor("100 results", () => sub.seqs.length >= 100 && outbox.depth() === 0, 15_000);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(5);
    expect(sub.seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it("stop() flushes the outbox before disconnecting", async () => {
    const sub = await subscriber("collector-2", false);
    const { outbox, publisher } = await agent({ clientId: "agent-stop" });
    await appendResults(outbox, 50);
    await publisher.stop({ deadline_ms: 10_000 });
    expect(outbox.depth()).toBe(0);
    expect(publisher.connected).toBe(false);
    await waitFor("50 results", () => sub.seqs.length >= 50, 5_000);
    expect(sub.seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});
