import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../../agent/agent.js";
import { configHash, parseConfig } from "../../../agent/config/load.js";
import { parsePublicKey } from "../../../agent/control/keys.js";
import { messageHash, verifySeal } from "../../../agent/evidence/seal.js";
import { silentLogger } from "../../../agent/log.js";
import { Reflector } from "../../../agent/probe/stamp/reflector.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { DeviceKeys, walkChains } from "../../../collector/evidence.js";
import { Ingest } from "../../../collector/ingest.js";
import { reportModelFromStore } from "../../../collector/report/from-store.js";
import { renderHtml } from "../../../collector/report/html.js";
import { buildReportFromResults, renderJson } from "../../../collector/report/model.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { readRegisteredKeys, verifyExport } from "../../../collector/verify.js";
import { tempDir, until } from "../../helpers/control.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { backends, type TestBackend } from "../../helpers/store-backends.js";

/**
 * Issue 11, evidence: a real agent seals its STAMP results (prev + Ed25519 sig), a private Mosquitto
 * carries them, and the test stands where a tampering relay would, between broker and collector: one
 * result is altered, one is deleted. The collector (Ingest on PostgreSQL, with the device key the agent
 * announced in its heartbeat registered) rejects the altered one and the chain walk shows both holes;
 * `qos-probe verify` passes the untouched export and names the edited record.
 */

const ROOT = "qosprobe/v1";

describe("result evidence: device key, hash chain, signatures (real agent, Mosquitto, PostgreSQL)", () => {
  let broker: PrivateMosquitto;
  let peer: Reflector;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: ResultStore;
  let disposeStore: (() => Promise<void>) | undefined;
  const raw: { topic: string; payload: Buffer }[] = [];
  let deviceKey: { kty: "OKP"; crv: "Ed25519"; x: string };

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = await tempDir();
    peer = new Reflector({
      host: "127.0.0.1",
      port: 0,
      clockSync: { synced: false, source: "test" },
      log: silentLogger(),
    });
    await peer.start();
    const relay = connect(broker.url, { protocolVersion: 5, clientId: "relay" });
    await new Promise<void>((r) => relay.once("connect", () => r()));
    relay.on("message", (topic, payload) => {
      if (topic.includes("/result/")) raw.push({ topic, payload });
      else if (topic.endsWith("/status") && payload.length > 0) {
        const s = JSON.parse(payload.toString());
        if (s.device_key) deviceKey = s.device_key;
      }
    });
    await relay.subscribeAsync([`${ROOT}/+/+/+/result/+`, `${ROOT}/+/+/+/status`], { qos: 1 });
    const yaml = `version: 1
agent: { site: bj-op-01, data_dir: ${dir.path} }
sites:
  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: 1 } }
  - { id: gz-op-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: ${peer.address().port} } }
reflector: { enabled: false }
tests:
  - { id: bj-gz-stamp, method: stamp, from: bj-op-01, to: gz-op-01, rate_pps: 20, loss_timeout_ms: 200, continuous: { interval_s: 1 } }
mqtt: { url: "${broker.url}", client_id: qp-evidence, keepalive_s: 5 }
heartbeat: { interval_s: 3600 }
`;
    const agent = new Agent({
      config: parseConfig(yaml, "agent.yaml", {}),
      configHash: configHash(yaml),
      log: silentLogger(),
    });
    await agent.start();
    try {
      await until(() => raw.length >= 6 && deviceKey !== undefined, "six sealed results", 30_000);
    } finally {
      await agent.stop({ deadline_ms: 2_000 });
      await relay.endAsync();
    }
    // The machine's PostgreSQL (own database per run): PGlite's first open is far slower on a busy box.
    const opened = await (backends.find((b) => b.name === "postgres") as TestBackend).open();
    store = opened.store;
    disposeStore = opened.dispose;
    await store.migrate();
  }, 60_000);

  afterAll(async () => {
    await disposeStore?.();
    await peer?.stop();
    await broker?.stop();
    await dir?.cleanup();
  });

  const first6 = () =>
    raw.slice(0, 6).map((r) => ({ ...r, msg: JSON.parse(r.payload.toString()) as ResultMessage }));

  it("every result carries prev (the digest of the one before) and a signature by the heartbeat's device key", () => {
    const msgs = first6().map((r) => r.msg);
    const key = parsePublicKey(deviceKey, "heartbeat device_key");
    expect(msgs.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(msgs[0]?.prev).toBeNull();
    for (let i = 1; i < msgs.length; i++) {
      expect(msgs[i]?.prev).toBe(messageHash(msgs[i - 1] as unknown as Record<string, unknown>));
    }
    for (const m of msgs) expect(verifySeal(m as unknown as Record<string, unknown>, key)).toBe(true);
  });

  it("the collector rejects a result altered in transit and shows a deleted one as a chain break", async () => {
    const keys = new DeviceKeys([{ site: "bj-op-01", operator: "op", device_key: deviceKey }]);
    const ingest = new Ingest({ store, log: silentLogger(), deviceKeys: keys, groupCommit: true });
    ingest.start();
    const relayed = first6();
    // seq 3 altered on the way (a better RTT), seq 5 deleted.
    const altered = { ...relayed[2]?.msg, rtt_ms: { ...relayed[2]?.msg.rtt_ms, mean: 0.001 } };
    const outcomes: string[] = [];
    for (const [i, r] of relayed.entries()) {
      if (i === 4) continue;
      const payload = i === 2 ? JSON.stringify(altered) : r.payload;
      outcomes.push(await ingest.accept(r.topic, payload));
    }
    await ingest.stop();
    expect(outcomes).toEqual(["stored", "stored", "rejected", "stored", "stored"]);
    const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 3_600_000) });
    expect(rejects).toHaveLength(1);
    expect(rejects[0]?.reason).toBe(
      "evidence: signature of seq 3 from op/bj-op-01 does not verify with its registered device key (altered in transit, or signed by another key)",
    );
    const rows = await store.queryResults({ from: new Date(0), to: new Date(Date.now() + 3_600_000) });
    const [chain] = walkChains(rows.map((r) => r.payload));
    expect(chain).toMatchObject({ site: "bj-op-01", results: 4, signed: 4, first_seq: 1, last_seq: 6 });
    expect(chain?.breaks.map((b) => [b.seq, b.kind, b.missing_seqs])).toEqual([
      [4, "missing", { from: 3, to: 3 }],
      [6, "missing", { from: 5, to: 5 }],
    ]);
    // The report's evidence section shows the same, per agent, in JSON and on the page.
    const at = Date.parse(rows[0]?.payload.interval.start ?? "");
    const model = buildReportFromResults(
      rows.map((r) => r.payload),
      { from_ms: at - 60_000, to_ms: at + 60_000, period: "all", lang: "en", generated_at_ms: 0, sites: [] },
    );
    expect(JSON.parse(renderJson(model)).evidence[0].breaks.map((b: { detail: string }) => b.detail)).toEqual(
      [
        "seq 3 not received: the chain from seq 2 to 4 is broken",
        "seq 5 not received: the chain from seq 4 to 6 is broken",
      ],
    );
    expect(renderHtml(model).match(/data-testid="chain-break"/g)).toHaveLength(2);

    // The store-backed report (aggregates only, no payloads) shows the same, from the chain tables
    // kept at ingest (migration 004).
    const storeEvidence = async () =>
      (
        await reportModelFromStore(store, {
          from_ms: at - 60_000,
          to_ms: at + 3_600_000,
          period: "all",
          lang: "en",
          generated_at_ms: at + 3_600_000,
          sites: [],
          format: "json",
        })
      ).evidence;
    const fromStore = await storeEvidence();
    expect(fromStore?.map((e) => [e.site, e.results, e.signed, e.first_seq, e.last_seq, e.head])).toEqual([
      ["bj-op-01", 4, 4, 1, 6, chain?.head],
    ]);
    expect(fromStore?.[0]?.breaks).toEqual(chain?.breaks);
    const page = renderHtml(
      await reportModelFromStore(store, {
        from_ms: at - 60_000,
        to_ms: at + 3_600_000,
        period: "all",
        lang: "en",
        generated_at_ms: at + 3_600_000,
        sites: [],
        format: "html",
      }),
    );
    expect(page.match(/data-testid="chain-break"/g)).toHaveLength(2);

    // Late arrivals: the deleted seq 5, then the untouched seq 3, reach the store after all. Each
    // closes its break; the chain is whole again.
    const late = new Ingest({ store, log: silentLogger(), deviceKeys: keys, groupCommit: true });
    late.start();
    expect(await late.accept(relayed[4]!.topic, relayed[4]!.payload)).toBe("stored");
    expect((await storeEvidence())?.[0]?.breaks.map((b) => [b.seq, b.kind, b.missing_seqs])).toEqual([
      [4, "missing", { from: 3, to: 3 }],
    ]);
    expect(await late.accept(relayed[2]!.topic, relayed[2]!.payload)).toBe("stored");
    await late.stop();
    const whole = await storeEvidence();
    expect(whole?.map((e) => [e.results, e.signed, e.first_seq, e.last_seq, e.breaks.length])).toEqual([
      [6, 6, 1, 6, 0],
    ]);
    expect(whole?.[0]?.head).toBe(messageHash(relayed[5]!.msg as unknown as Record<string, unknown>));
  });

  it("qos-probe verify passes an untouched export and fails an edited one, naming the record", async () => {
    const mesh = join(dir.path, "mesh.yaml");
    await writeFile(
      mesh,
      `sites:\n  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 127.0.0.1 }, device_key: { kty: OKP, crv: Ed25519, x: ${deviceKey.x} } }\n`,
    );
    const keys = await readRegisteredKeys(mesh);
    const lines = first6().map((r) => r.payload.toString());
    const clean = join(dir.path, "clean.jsonl");
    await writeFile(clean, `${lines.join("\n")}\n`);
    const ok = await verifyExport(clean, keys);
    expect(ok.ok).toBe(true);
    expect(ok.text).toMatch(/verified: 6 results, every signature valid, every chain unbroken/);

    const edited = [...lines];
    const m3 = JSON.parse(edited[3] as string) as ResultMessage;
    m3.rtt_ms = { ...m3.rtt_ms, mean: 0.001 }; // a published figure made better than measured
    edited[3] = JSON.stringify(m3);
    const bad = join(dir.path, "edited.jsonl");
    await writeFile(bad, `${edited.join("\n")}\n`);
    const no = await verifyExport(bad, keys);
    expect(no.ok).toBe(false);
    expect(no.text).toContain(
      `${bad}:4: op/bj-op-01 seq 4 id ${m3.id}: altered: present, but signature of seq 4 from op/bj-op-01 does not verify with its registered device key`,
    );
  });
});
