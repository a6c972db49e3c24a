import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connectAsync, type MqttClient } from "mqtt";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MqttPublisher } from "../../../agent/publish/mqtt.js";
import { WILL_DELAY_S } from "../../../agent/publish/mqtt-options.js";
import { DEFAULT_TOPIC_ROOT, statusTopic } from "../../../agent/publish/topics.js";
import { freePort, type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { type TranspiledTree, transpileForChild } from "../../helpers/ts-child.js";

const site = { root: DEFAULT_TOPIC_ROOT, operator: "ct", province: "BJ", site: "bj-01" };

let broker: PrivateMosquitto;
let tree: TranspiledTree;
const children: ChildProcess[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  tree = await transpileForChild(["agent/publish/mqtt.ts"]);
  // The child connects with the real MqttPublisher and says "ready" once its retained `online` is acked.
  await writeFile(
    join(tree.dir, "will-child.mjs"),
    `import { MqttPublisher } from "./agent/publish/mqtt.js";
const [url, topic] = process.argv.slice(2);
const publisher = new MqttPublisher({ url, protocolVersion: 5, clientId: "agent-bj-01", keepalive: 30,
  will: { topic, payload: "offline", retain: true, qos: 1 } });
publisher.on("connected", () => {
  publisher.publishRetained(topic, "online").then(() => process.stdout.write("ready\\n"));
});
publisher.start();
setTimeout(() => process.exit(3), 20000); // never outlive the test
`,
  );
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const client of clients) await client.endAsync(true).catch(() => undefined);
  await tree?.remove();
  await broker?.stop();
});

/** The first message on `topic` for a new subscriber, with its retain flag. */
async function nextMessage(client: MqttClient, topic: string, want: string, timeoutMs: number) {
  return new Promise<{ payload: string; retain: boolean }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${want}" on ${topic} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.on("message", (t, payload, packet) => {
      if (t === topic && payload.toString() === want) {
        clearTimeout(timer);
        resolve({ payload: payload.toString(), retain: packet.retain });
      }
    });
  });
}

describe("MqttPublisher Last Will", () => {
  it("leaves a retained `offline` status when the agent process is SIGKILLed", async () => {
    const topic = statusTopic(site);
    const child = spawn(process.execPath, [join(tree.dir, "will-child.mjs"), broker.url, topic], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("child did not connect within 10 s")), 10_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });

    const watcher = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(watcher);
    const online = nextMessage(watcher, topic, "online", 5_000);
    await watcher.subscribeAsync(topic, { qos: 1 });
    expect(await online).toEqual({ payload: "online", retain: true });

    // The broker holds the Will for its 5 s Will Delay before publishing it.
    const offline = nextMessage(watcher, topic, "offline", 5_000 + WILL_DELAY_S * 1000);
    child.kill("SIGKILL");
    await offline;

    // A subscriber arriving later finds `offline` as the retained status.
    const late = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(late);
    const retained = nextMessage(late, topic, "offline", 5_000);
    await late.subscribeAsync(topic, { qos: 1 });
    expect(await retained).toEqual({ payload: "offline", retain: true });
  });

  it("logs a refused connection once at warn, not once per retry", async () => {
    const lines: { level: number; msg: string; reason?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const port = await freePort(); // bound then closed: nothing listens there
    const publisher = new MqttPublisher({
      url: `mqtt://127.0.0.1:${port}`,
      protocolVersion: 5,
      clientId: "agent-refused",
      keepalive: 30,
      will: { topic: statusTopic(site), payload: "offline", retain: true, qos: 1 },
      reconnect: { initial_ms: 20, max_ms: 40 },
      log: pino({ level: "debug" }, sink),
    });
    publisher.start();
    const started = performance.now();
    const failures = () => lines.filter((l) => l.msg.startsWith("MQTT connection failed"));
    while (failures().length < 4 && performance.now() - started < 5_000)
      await new Promise((r) => setTimeout(r, 20));
    await publisher.stop({ deadline_ms: 0 });

    expect(failures().length).toBeGreaterThanOrEqual(4);
    // pino levels: 40 = warn, 20 = debug. First failure at warn, the identical retries at debug.
    const warns = failures().filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]?.reason).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(
      failures()
        .slice(1)
        .every((l) => l.level === 20),
    ).toBe(true);
    expect(publisher.connected).toBe(false);
  });
});
