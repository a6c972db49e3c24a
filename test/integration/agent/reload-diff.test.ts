import dgram from "node:dgram";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../agent/clock.js";
import { configHash } from "../../../agent/config/load.js";
import { silentLogger } from "../../../agent/log.js";
import { runProbe } from "../../../agent/probe/runner.js";
import { Reflector } from "../../../agent/probe/stamp/reflector.js";
import { stamp } from "../../../agent/probe/stamp/sender.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { freePort } from "../../../scripts/lab/mosquitto.js";
import { AgentProcess } from "../../helpers/agent-process.js";

/**
 * Issue 10 day-one behaviour of a real agent process: it starts over a stale lock left by a power
 * cut, reflects on its listen address while advertising a non-local (NAT'd, documentation) address,
 * applies a SIGHUP as a diff (the unchanged test's interval is not aborted, the changed one restarts),
 * keeps the old plan live when a new configuration fails to apply, and its heartbeat names the live
 * configuration.
 */

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function yaml(o: {
  dataDir: string;
  ownPort: number;
  peerPort: number;
  brokerPort: number;
  bRate: number;
  listen: string;
}) {
  return `version: 1
config_version: "rate-${o.bRate}"
agent: { site: bj-op-01, data_dir: ${o.dataDir} }
sites:
  # Advertised address: a documentation address that is not local to this host (the NAT case).
  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 192.0.2.10, port: ${o.ownPort} } }
  - { id: gz-op-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: ${o.peerPort} } }
reflector: { enabled: true, listen: "${o.listen}" }
tests:
  - { id: a-stamp, method: stamp, from: bj-op-01, to: gz-op-01, rate_pps: 10, loss_timeout_ms: 300, continuous: { interval_s: 2 } }
  - { id: b-stamp, method: stamp, from: bj-op-01, to: gz-op-01, rate_pps: ${o.bRate}, loss_timeout_ms: 300, continuous: { interval_s: 2 } }
embedded_broker: { listen: "127.0.0.1:${o.brokerPort}" }
heartbeat: { interval_s: 5 }
`;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("agent day one (real agent process)", () => {
  let agent: AgentProcess | undefined;
  let peer: Reflector | undefined;
  let client: MqttClient | undefined;
  let squatter: dgram.Socket | undefined;

  afterEach(async () => {
    await client?.endAsync();
    await agent?.destroy();
    await peer?.stop();
    squatter?.close();
    agent = peer = client = squatter = undefined;
  });

  it("starts over a stale lock, reflects on listen (not the advertised host), applies SIGHUP as a diff", async () => {
    peer = new Reflector({ host: "127.0.0.1", port: 0, clockSync: { synced: false, source: "test" } });
    await peer.start();
    const peerPort = peer.address().port;
    const ownPort = await freeUdpPort();
    const brokerPort = await freePort();
    let dataDir = "";
    const base = { ownPort, peerPort, brokerPort, listen: "127.0.0.1" };
    agent = await AgentProcess.create((d) => {
      dataDir = d;
      return yaml({ ...base, dataDir: d, bRate: 10 });
    });
    const siteDir = join(dataDir, "bj-op-01");
    // A lock left by the agent before a power cut: pid 1 is alive now, but another boot wrote it.
    await mkdir(siteDir, { recursive: true });
    await writeFile(
      join(siteDir, "agent.lock"),
      "1 0123456789abcdef 00000000-0000-4000-8000-000000000000 5\n",
    );

    agent.start();
    await agent.waitFor((l) => l.some((x) => x.msg === "STAMP reflector listening"));
    const listening = agent.lines.find((x) => x.msg === "STAMP reflector listening");
    expect(listening).toMatchObject({ address: "127.0.0.1", port: ownPort });

    // The reflector answers on the listen address.
    const probe = await runProbe(
      stamp,
      {
        test_id: "nat",
        target: `stamp://127.0.0.1:${ownPort}`,
        spec: {
          method: "stamp",
          host: "127.0.0.1",
          port: ownPort,
          count: 3,
          interval_ms: 20,
          schedule: "periodic",
          packet_size_bytes: 128,
          dscp: 0,
          loss_timeout_ms: 1000,
        },
        profile: "internet-3.2.2",
        diagnostic: true,
        agent: { site: "t", operator: "t", province: "000000", version: "t" },
      },
      { clock: systemClock, log: silentLogger(), clockSync: { synced: false, source: "test" } },
    );
    expect(probe.packets).toMatchObject({ sent: 3, received: 3, lost: 0 });

    const results: ResultMessage[] = [];
    client = connect(`mqtt://127.0.0.1:${brokerPort}`, { protocolVersion: 4, reconnectPeriod: 200 });
    client.on("message", (_t, payload) => results.push(JSON.parse(payload.toString()) as ResultMessage));
    await new Promise<void>((r) => client?.once("connect", () => r()));
    await client.subscribeAsync("qosprobe/v1/+/+/+/result/+", { qos: 1 });
    // A run of b (20 packets, 100 ms apart) ends ≈ 1.9 s into its 2 s interval; 1 s after a result
    // arrives the next run of each test is half-way, so the reload lands on intervals in flight.
    await until(() => results.filter((r) => r.test.id === "b-stamp").length >= 1, 10_000, "a first b result");
    await new Promise((r) => setTimeout(r, 1_000));

    // Reload: only b changes. a's interval in flight must finish unaborted; b's is aborted and restarts.
    const second = yaml({ ...base, dataDir, bRate: 5 });
    await writeFile(agent.configPath, second);
    const reloadAt = Date.now();
    agent.send("SIGHUP");
    await agent.waitFor((l) => l.some((x) => /^configuration [0-9a-f]+ live/.test(x.msg)));
    const applied = agent.lines.find((x) => /^configuration [0-9a-f]+ live/.test(x.msg));
    expect(applied).toMatchObject({
      applied: ["test:b-stamp"],
      unchanged: ["reflector", "mqtt", "test:a-stamp"],
    });
    await until(
      () => results.some((r) => r.test.id === "b-stamp" && r.test.rate_pps === 5),
      10_000,
      "a result of the new b",
    );
    await until(
      () =>
        results.filter((r) => r.test.id === "a-stamp" && Date.parse(r.interval.start) > reloadAt).length >= 1,
      10_000,
      "a's next interval",
    );
    const aborted = (id: string) =>
      results.filter((r) => r.test.id === id && r.quality.flags.includes("aborted"));
    expect(aborted("a-stamp")).toEqual([]);
    expect(aborted("b-stamp").length).toBe(1);
    expect(aborted("b-stamp")[0]?.test.rate_pps).toBe(10);

    // The heartbeat names the live configuration.
    const status = async () => JSON.parse(await readFile(join(siteDir, "status.json"), "utf8"));
    await until(
      async () => (await status()).config_hash === configHash(second),
      10_000,
      "status with the new hash",
    );
    const live = await status();
    expect(live.config_version).toBe("rate-5");
    expect(Date.parse(live.config_loaded_at)).toBeGreaterThanOrEqual(reloadAt - 1000);

    // A configuration that validates but cannot apply (its listen port is taken): old plan stays live.
    squatter = dgram.createSocket("udp4");
    const taken = await new Promise<number>((r) =>
      squatter?.bind(0, "127.0.0.1", () => r(squatter?.address().port ?? 0)),
    );
    await writeFile(agent.configPath, yaml({ ...base, dataDir, bRate: 2, listen: `127.0.0.1:${taken}` }));
    const before = results.length;
    agent.send("SIGHUP");
    await agent.waitFor((l) =>
      l.some((x) => x.msg === "new configuration failed to apply; the previous one stays live"),
    );
    await until(
      () => results.slice(before).filter((r) => r.test.id === "b-stamp").length >= 2,
      10_000,
      "results after a failed apply",
    );
    expect(results.slice(before).every((r) => r.test.id !== "b-stamp" || r.test.rate_pps === 5)).toBe(true);
    expect((await status()).config_hash).toBe(configHash(second));
    const reflectorBack = agent.lines.filter((x) => x.msg === "STAMP reflector listening").at(-1);
    expect(reflectorBack).toMatchObject({ address: "127.0.0.1", port: ownPort });

    expect(await agent.signal("SIGTERM")).toBe(0);
  }, 60_000);
});
