import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Agent } from "../../../agent/agent.js";
import { configHash, parseConfig } from "../../../agent/config/load.js";
import {
  bootstrap,
  envelope,
  makeKey,
  mesh,
  OPERATOR_CONFIG_TOPIC,
  SITES,
  siteConfigTopic,
  startAgent,
  statusFile,
  type TestKey,
  tempDir,
  until,
  Watcher,
} from "../../helpers/control.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

/**
 * Issue 11, signed configuration end to end: real agents (in this process), a private Mosquitto, real
 * Ed25519 signatures. Each agent's decision is read where the regulator reads it: the ack on
 * config/ack and the config_version/config_hash of its retained heartbeat.
 */

describe("signed configuration over MQTT (private Mosquitto)", () => {
  let broker: PrivateMosquitto;
  let watcher: Watcher;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let A: TestKey;
  let B: TestKey;
  let C: TestKey;
  const agents: Agent[] = [];

  beforeEach(async () => {
    broker = await startMosquitto();
    watcher = await Watcher.open(broker.url);
    dir = await tempDir();
    [A, B, C] = await Promise.all([makeKey(), makeKey(), makeKey()]);
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ deadline_ms: 0 }).catch(() => undefined);
    await watcher.close();
    await broker.stop();
    await dir.cleanup();
  });

  async function run(site: string, keys = [A.pub, B.pub]): Promise<Agent> {
    const agent = startAgent(bootstrap({ site, dataDir: dir.path, brokerUrl: broker.url, keys }));
    await agent.start();
    agents.push(agent);
    return agent;
  }

  it("one operator-wide envelope reaches three agents and all three ack it and run it", async () => {
    for (const site of SITES) await run(site);
    const yaml = mesh(61);
    await watcher.publish(OPERATOR_CONFIG_TOPIC, await envelope(A, 1, yaml));
    await until(() => SITES.every((s) => watcher.acksOf(s).length === 1), "three acks");
    for (const site of SITES) {
      const [ack] = watcher.acksOf(site);
      expect(ack).toMatchObject({
        decision: "accepted",
        config_version: 1,
        config_hash: configHash(yaml),
        reason: null,
        key_id: A.pub.kid,
        live_version: 1,
      });
      await until(() => watcher.status.get(site)?.config_version === "1", `${site} heartbeat v1`);
      expect(watcher.status.get(site)?.config_hash).toBe(configHash(yaml));
    }
  });

  it("refuses a tampered envelope, an unknown key and an older version, each with its reason, and keeps running v5", async () => {
    const site = "sh-op-01";
    await run(site);
    const topic = siteConfigTopic(site);
    const good = mesh(65);
    await watcher.publish(topic, await envelope(A, 5, good));
    await until(() => watcher.acksOf(site).length === 1, "v5 accepted");
    expect(watcher.acksOf(site)[0]?.decision).toBe("accepted");

    // Tampered: the payload changed after signing (a relay edited the mesh), signature untouched.
    const signed = await envelope(A, 6, mesh(66));
    const [h, p, s] = signed.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.config = mesh(99);
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    await watcher.publish(topic, tampered);
    await until(() => watcher.acksOf(site).length === 2, "tampered ack");

    await watcher.publish(topic, await envelope(C, 7, mesh(67)));
    await until(() => watcher.acksOf(site).length === 3, "unknown-key ack");

    await watcher.publish(topic, await envelope(A, 4, mesh(64)));
    await until(() => watcher.acksOf(site).length === 4, "rollback ack");

    const [, tamperedAck, unknownAck, olderAck] = watcher.acksOf(site);
    expect(tamperedAck).toMatchObject({ decision: "rejected", config_version: null, live_version: 5 });
    expect(tamperedAck?.reason).toMatch(/^bad-signature: signature does not verify with pinned key/);
    expect(unknownAck).toMatchObject({ decision: "rejected", key_id: C.pub.kid, live_version: 5 });
    expect(unknownAck?.reason).toMatch(/^unknown-key: signed by key .* which is not pinned/);
    expect(olderAck).toMatchObject({ decision: "rejected", config_version: 4, live_version: 5 });
    expect(olderAck?.reason).toBe("rollback: config_version 4 is not newer than the live 5");
    // The old configuration keeps running: its hash is the one in the heartbeat.
    const status = await statusFile(dir.path, site);
    expect(status).toMatchObject({ config_version: "5", config_hash: configHash(good) });

    // An invalid mesh (a test between two sites < 1000 km is fine, an unknown site is not).
    const invalid = mesh(
      68,
      "tests:\n  - { id: t1, method: stamp, from: sh-op-01, to: nowhere-01, continuous: { interval_s: 60 } }\n",
    );
    await watcher.publish(topic, await envelope(A, 8, invalid));
    await until(() => watcher.acksOf(site).length === 5, "invalid ack");
    expect(watcher.acksOf(site)[4]?.reason).toMatch(/^invalid: config_version 8: tests\[0\]\.to: /);
    expect(await statusFile(dir.path, site)).toMatchObject({ config_version: "5" });
  });

  it("applies a config published while the agent was offline when it reconnects, and runs it again without a broker", async () => {
    const site = "gz-op-01";
    const first = await run(site);
    await watcher.publish(siteConfigTopic(site), await envelope(A, 1, mesh(61)));
    await until(() => watcher.acksOf(site).length === 1, "v1");
    await first.stop({ deadline_ms: 0 });
    agents.splice(agents.indexOf(first), 1);

    const yaml2 = mesh(62);
    await watcher.publish(siteConfigTopic(site), await envelope(A, 2, yaml2)); // retained, nobody listening
    expect(watcher.acksOf(site)).toHaveLength(1);
    await run(site);
    await until(() => watcher.acksOf(site).length === 2, "v2 after reconnect");
    expect(watcher.acksOf(site)[1]).toMatchObject({
      decision: "accepted",
      config_version: 2,
      config_hash: configHash(yaml2),
    });
    await agents.pop()?.stop({ deadline_ms: 0 });

    // Reboot with the broker gone: the last-known-good (v2) runs from disk.
    await broker.kill();
    const offline = startAgent(bootstrap({ site, dataDir: dir.path, brokerUrl: broker.url, keys: [A.pub] }));
    await offline.start();
    agents.push(offline);
    expect(await statusFile(dir.path, site)).toMatchObject({
      config_version: "2",
      config_hash: configHash(yaml2),
    });
    await offline.stop({ deadline_ms: 0 });
    agents.pop();
    await broker.restart();
  });

  it("rotates keys: two pinned, then the old one removed from the local file", async () => {
    const site = "bj-op-01";
    const dataDir = dir.path;
    const agent = await run(site, [A.pub, B.pub]);
    const topic = siteConfigTopic(site);
    await watcher.publish(topic, await envelope(A, 10, mesh(70)));
    await until(() => watcher.acksOf(site).length === 1, "v10 by A");
    await watcher.publish(topic, await envelope(B, 11, mesh(71)));
    await until(() => watcher.acksOf(site).length === 2, "v11 by B");

    // The operator drops A from the local file and sends SIGHUP (the same call the handler makes).
    const onlyB = bootstrap({ site, dataDir, brokerUrl: broker.url, keys: [B.pub] });
    await agent.reloadLocal(parseConfig(onlyB, "bootstrap.yaml", {}), configHash(onlyB));
    // The live v11 (signed by B, still pinned) keeps running; its retained envelope, redelivered on the
    // new connection, is the running one and needs no answer. A's v12 is now an unknown key.
    await watcher.publish(topic, await envelope(A, 12, mesh(72)));
    await until(() => watcher.acksOf(site).length === 3, "v12 by A");
    await watcher.publish(topic, await envelope(B, 13, mesh(73)));
    await until(() => watcher.acksOf(site).length === 4, "v13 by B");

    const decisions = watcher.acksOf(site).map((a) => [a.config_version, a.decision, a.key_id]);
    expect(decisions).toEqual([
      [10, "accepted", A.pub.kid],
      [11, "accepted", B.pub.kid],
      // Unverified, so its claimed version is not reported as a fact.
      [null, "rejected", A.pub.kid],
      [13, "accepted", B.pub.kid],
    ]);
    expect(watcher.acksOf(site)[2]?.reason).toMatch(/^unknown-key: /);
    expect(await statusFile(dataDir, site)).toMatchObject({
      config_version: "13",
      regulator_keys: [B.pub.kid],
    });
  });
});
