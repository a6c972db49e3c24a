import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MqttPublisher } from "../../../agent/publish/mqtt.js";
import { Outbox } from "../../../agent/publish/outbox.js";
import { DEFAULT_TOPIC_ROOT, resultTopic, statusTopic } from "../../../agent/publish/topics.js";
import { freePort, type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

/**
 * A stopping publisher (agent SIGTERM): one immediate connection attempt instead of waiting out the
 * backoff, a flush only while connected. Against a refused port it gives up at once with the outbox
 * untouched; a broker that came back during a long backoff is reached at once and gets every result.
 */

const site = { root: DEFAULT_TOPIC_ROOT, operator: "ct", province: "GD", site: "gz-01" };
/** A backoff far longer than any bound below: a reconnect on its own could not happen in the test. */
const LONG_BACKOFF = { initial_ms: 120_000, max_ms: 120_000 };

let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qosprobe-stop-"));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function publisherTo(url: string) {
  const outbox = new Outbox({ dir, max_bytes: 16 << 20, max_age_ms: 3_600_000 });
  await outbox.open();
  const publisher = new MqttPublisher({
    url,
    protocolVersion: 5,
    clientId: "agent-stop-gz-01",
    keepalive: 30,
    will: { topic: statusTopic(site), payload: "offline", retain: true, qos: 1 },
    reconnect: LONG_BACKOFF,
  });
  cleanups.push(() => outbox.close());
  cleanups.push(() => publisher.stop({ deadline_ms: 0 }));
  publisher.start();
  publisher.drain(outbox);
  return { outbox, publisher };
}

const append = (outbox: Outbox, n: number) =>
  Promise.all(
    Array.from({ length: n }, () =>
      outbox.append(resultTopic(site, "t1"), (seq) => Buffer.from(JSON.stringify({ seq }))),
    ),
  );

async function until(what: string, ok: () => boolean): Promise<void> {
  // A bound so a broken build fails instead of hanging; not a timing assertion.
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!ok()) throw new Error(`not reached: ${what}`);
}

describe("MqttPublisher stop", () => {
  it("refused port: the immediate attempt fails, stop returns, every record stays in the outbox", async () => {
    const { outbox, publisher } = await publisherTo(`mqtt://127.0.0.1:${await freePort()}`);
    await append(outbox, 5);
    expect(await publisher.connectNow(60_000)).toBe(false);
    await publisher.stop({ deadline_ms: 60_000 });
    expect(publisher.counters()).toEqual({ published: 0, acked: 0, failed: 0, not_delivered: 0 });
    expect(outbox.depth()).toBe(5);
    expect(outbox.peek(10).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("a broker back during a long backoff is reached at once and gets every record before the stop ends", async () => {
    const broker: PrivateMosquitto = await startMosquitto();
    cleanups.push(() => broker.stop());
    const sub: MqttClient = await connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: "stop-collector",
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      reconnectPeriod: 200,
    });
    cleanups.push(() => sub.endAsync(true));
    const seqs: number[] = [];
    sub.on("message", (_t, payload) => seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq));
    await sub.subscribeAsync(`${DEFAULT_TOPIC_ROOT}/+/+/+/result/+`, { qos: 1 });

    const { outbox, publisher } = await publisherTo(broker.url);
    await until("connected", () => publisher.connected);
    await append(outbox, 3);
    await until("3 delivered", () => outbox.depth() === 0);
    const back = broker.restart(500);
    await until("disconnected", () => !publisher.connected);
    await append(outbox, 4); // made while the broker is away: seqs 4..7
    await back;
    // The next reconnect is 60–120 s away; the stop's own attempt is what connects.
    expect(publisher.connected).toBe(false);
    expect(await publisher.connectNow(30_000)).toBe(true);
    await publisher.stop({ deadline_ms: 30_000 });
    expect(outbox.depth()).toBe(0);
    await until("7 received", () => new Set(seqs).size === 7);
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);
});
