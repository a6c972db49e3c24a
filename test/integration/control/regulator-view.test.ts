import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../agent/agent.js";
import { configHash } from "../../../agent/config/load.js";
import { silentLogger } from "../../../agent/log.js";
import { Collector } from "../../../collector/collector.js";
import { parseCollectorConfig } from "../../../collector/config.js";
import type { SiteConfigStatus } from "../../../collector/control-plane/config-status.js";
import { configStatusFromStore } from "../../../collector/control-plane/from-store.js";
import { runConfigStatus } from "../../../collector/control-plane/status-role.js";
import { reportFromStore } from "../../../collector/report/from-store.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { CLI } from "../../helpers/agent-process.js";
import {
  bootstrap,
  envelope,
  makeKey,
  mesh,
  OPERATOR_CONFIG_TOPIC,
  PROVINCE,
  ROOT,
  siteConfigTopic,
  startAgent,
  type TestKey,
  tempDir,
  until,
  Watcher,
} from "../../helpers/control.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { PG_ADMIN_URL } from "../../helpers/store-backends.js";

/**
 * Issue 11, the regulator's view end to end: a private Mosquitto, a real PostgreSQL database of its own,
 * three agents in this process, the collector storing their config acks and heartbeats, and the view read
 * back through `qos-probe config status` (the compiled CLI, exit status included) and the report.
 *
 * bj and sh pin the regulator's key A; gz still pins only B (a site whose local file missed a key
 * rotation), so the operator-wide v5 signed by A reaches all three and gz refuses it: unknown key.
 */

const SITE_LINES = `  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: 18620 } }
  - { id: sh-op-01, operator: op, province: "310000", reflector: { host: 127.0.0.1, port: 18621 } }
  - { id: gz-op-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: 18622 } }`;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`qos-probe ${args.join(" ")} still running after 20 s:\n${stderr}`));
    }, 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("the regulator's view: config acks and heartbeats in the collector's store", () => {
  let broker: PrivateMosquitto;
  let watcher: Watcher;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let A: TestKey;
  let B: TestKey;
  let dbName: string;
  let dbUrl: string;
  let store: ResultStore;
  let collector: Collector;
  const agents = new Map<string, Agent>();
  const yaml5 = mesh(61);

  const byCollector = async (now_ms = Date.now()) => {
    const view = await configStatusFromStore(store, { now_ms });
    return Object.fromEntries(view.sites.map((s) => [s.site, s])) as Record<string, SiteConfigStatus>;
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = await tempDir();
    [A, B] = await Promise.all([makeKey(), makeKey()]);
    dbName = `qosprobe_regview_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${dbName}`);
    } finally {
      await admin.end();
    }
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    dbUrl = url.toString();
    store = openPostgresStore({ url: dbUrl, log: silentLogger() });
    const config = parseCollectorConfig(
      [
        "version: 1",
        `mqtt: { url: "${broker.url}", client_id: regview-collector, connections: 1, keepalive_s: 10 }`,
        "http: { enabled: false }",
        "sites:",
        SITE_LINES,
      ].join("\n"),
      "collector.yaml",
      {},
    );
    collector = new Collector({ config, store, log: silentLogger() });
    await collector.start();
    // Acks are not retained: the collector must be subscribed before the agents decide.
    await until(() => collector.counters().connections.every((c) => c.subscribed), "collector subscribed");
    watcher = await Watcher.open(broker.url);
  }, 60_000);

  afterAll(async () => {
    for (const a of agents.values()) await a.stop({ deadline_ms: 0 }).catch(() => undefined);
    await collector?.stop();
    await store?.close().catch(() => undefined);
    await watcher?.close();
    await broker?.stop();
    await dir?.cleanup();
    if (dbName) {
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    }
  }, 30_000);

  it("stores three agents' answers to one signed v5: two run it, one refused it with its reason", async () => {
    const pins: Record<string, TestKey[]> = { "bj-op-01": [A], "sh-op-01": [A], "gz-op-01": [B] };
    for (const [site, keys] of Object.entries(pins)) {
      const agent = startAgent(
        bootstrap({ site, dataDir: dir.path, brokerUrl: broker.url, keys: keys.map((k) => k.pub) }),
      );
      await agent.start();
      agents.set(site, agent);
    }
    await watcher.publish(OPERATOR_CONFIG_TOPIC, await envelope(A, 5, yaml5));
    await until(() => collector.counters().config_acks === 3, "three acks stored");
    // The heartbeat that follows each decision carries config_signed: wait until both v5 sites show it.
    await until(
      () => ["bj-op-01", "sh-op-01"].every((s) => watcher.status.get(s)?.config_version === "5"),
      "v5 heartbeats",
    );
    const signedAt = (site: string) =>
      (watcher.status.get(site) as { config_signed?: { accepted_at?: string } } | undefined)?.config_signed
        ?.accepted_at;
    let by: Record<string, SiteConfigStatus> = {};
    const deadline = Date.now() + 15_000;
    do {
      by = await byCollector();
      // Stored from the heartbeat after the decision (not only from the ack): its accepted_at is there.
      if (["bj-op-01", "sh-op-01"].every((s) => by[s]?.accepted_at === signedAt(s))) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);

    for (const site of ["bj-op-01", "sh-op-01"]) {
      expect(by[site]).toMatchObject({
        state: "current",
        ok: true,
        running_version: 5,
        running_hash: configHash(yaml5),
        heartbeat: { stale: false, stale_after_s: 183, state: "online" },
        acks: { accepted: 1, rejected: 0 },
        last_ack: { decision: "accepted", config_version: 5, key_id: A.pub.kid, live_version: 5 },
      });
      // When the agent made v5 live (its heartbeat's config_signed.accepted_at), just before it acked.
      expect(by[site]?.accepted_at).toBe(signedAt(site));
      expect(Date.parse(by[site]?.last_ack?.at ?? "")).toBeGreaterThanOrEqual(
        Date.parse(signedAt(site) ?? ""),
      );
      // The device key from the heartbeat: the agent's own, as its status.json says.
      expect(by[site]?.device_key_id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(by["gz-op-01"]).toMatchObject({
      state: "rejected",
      ok: false,
      running_version: null,
      // gz still runs its bootstrap file: heartbeat every 3600 s, so stale only after 3 × 3600 s.
      heartbeat: { stale: false, stale_after_s: 10_800 },
      rejection: { decision: "rejected", config_version: null, key_id: A.pub.kid, live_version: null },
    });
    expect(by["gz-op-01"]?.rejection?.reason).toMatch(/^unknown-key: signed by key .* which is not pinned/);
  });

  it("`qos-probe config status` (compiled CLI) prints the table, --json the same view, and exits 1 while one site is not on v5", async () => {
    const text = await cli(["config", "status", "--database-url", dbUrl]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(1);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("expected: v5 (newest version acked or live at any site)");
    expect(lines[1]).toMatch(/^site\s+operator\s+state\s+running\s+accepted at\s+heartbeat\s+key\s+reason$/);
    expect(lines.find((l) => l.startsWith("bj-op-01"))).toMatch(
      /^bj-op-01\s+op\s+current\s+v5\s+\S+Z\s+\d+s ago/,
    );
    expect(lines.find((l) => l.startsWith("gz-op-01"))).toMatch(
      /^gz-op-01\s+op\s+rejected ✗\s+bootstrap\s+–\s+\d+s ago\s+\S+\s+envelope: unknown-key: /,
    );
    expect(lines).toContain("2 of 3 sites on v5; 1 not ok");

    const json = await cli(["config", "status", "--database-url", dbUrl, "--json"]);
    expect(json.code).toBe(1);
    const view = JSON.parse(json.stdout);
    expect(view).toMatchObject({ schema: "qosprobe.config-status/1", expected_version: 5, not_ok: 1 });
    expect(view.sites.map((s: SiteConfigStatus) => [s.site, s.state, s.running_version])).toEqual([
      ["bj-op-01", "current", 5],
      ["gz-op-01", "rejected", null],
      ["sh-op-01", "current", 5],
    ]);

    // Only the sites on v5: ok (exit 0). A version nobody runs: not ok for all three.
    expect((await runConfigStatus({ database_url: dbUrl, site: "bj-op-01" })).ok).toBe(true);
    const six = await runConfigStatus({ database_url: dbUrl, expect: 6, json: true });
    expect(six.ok).toBe(false);
    expect(JSON.parse(six.text).sites.map((s: SiteConfigStatus) => s.state)).toEqual([
      "pending",
      "rejected",
      "pending",
    ]);
    // A usage error is 2, as for every command.
    expect((await cli(["config", "status", "--database-url", dbUrl, "--expect", "zero"])).code).toBe(2);
  }, 60_000);

  it("stores a refused older version with its reason once, even when the broker delivers the ack again", async () => {
    const site = "sh-op-01";
    await watcher.publish(siteConfigTopic(site), await envelope(A, 4, mesh(64)));
    await until(() => collector.counters().config_acks === 4, "rollback ack stored");
    const rollback = watcher.acksOf(site).at(-1);
    expect(rollback?.reason).toBe("rollback: config_version 4 is not newer than the live 5");

    // The same bytes again (what a QoS 1 redelivery is): counted, not stored twice.
    await watcher.client.publishAsync(
      `${ROOT}/op/${PROVINCE[site]}/${site}/config/ack`,
      JSON.stringify(rollback),
      { qos: 1 },
    );
    await until(() => collector.counters().config_ack_duplicates === 1, "duplicate counted");
    const acks = await store.controlPlane?.listConfigAcks({ site });
    expect(acks?.map((a) => [a.decision, a.config_version, a.reason])).toEqual([
      ["accepted", 5, null],
      ["rejected", 4, "rollback: config_version 4 is not newer than the live 5"],
    ]);
    // Still on v5: the refusal of an older version does not make it behind.
    const by = await byCollector();
    expect(by[site]).toMatchObject({
      state: "current",
      ok: true,
      running_version: 5,
      acks: { accepted: 1, rejected: 1 },
      last_ack: { decision: "rejected", config_version: 4, live_version: 5 },
    });
  });

  it("heartbeat staleness: silent past 3 × its interval is stale, a stopped agent is offline", async () => {
    // 200 s after now, with no newer heartbeat: 200 > 3 × 61 for the v5 sites, < 3 × 3600 for gz.
    const later = await byCollector(Date.now() + 200_000);
    expect(later["bj-op-01"]).toMatchObject({ state: "current", ok: false, heartbeat: { stale: true } });
    expect(later["bj-op-01"]?.detail).toMatch(/^heartbeat stale: last 2\d\ds ago \(> 183s\); on v5$/);
    expect(later["gz-op-01"]?.heartbeat.stale).toBe(false);

    await agents.get("bj-op-01")?.stop({ deadline_ms: 0 });
    agents.delete("bj-op-01");
    let bj: SiteConfigStatus | undefined;
    await until(() => collector.counters().statuses > 0, "statuses");
    const deadline = Date.now() + 15_000;
    do {
      bj = (await byCollector())["bj-op-01"];
      if (bj?.heartbeat.state === "offline") break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    expect(bj).toMatchObject({
      state: "current",
      ok: false,
      running_version: 5,
      heartbeat: { state: "offline", stale: true },
    });
    expect(bj?.detail).toMatch(/^offline since its last heartbeat \d+s ago; on v5$/);

    // The CLI through runConfigStatus with --stale-after: bj offline, gz rejected.
    const { ok, text } = await runConfigStatus({ database_url: dbUrl, stale_after_s: 90 });
    expect(ok).toBe(false);
    expect(text).toMatch(/^bj-op-01\s+op\s+current ✗\s+v5\s+\S+\s+offline \(\d+s ago\)/m);
    expect(text).toContain("2 of 3 sites on v5; 2 not ok");
  });

  it("the report's Configuration section (JSON and HTML) shows the same view", async () => {
    const now = Date.now();
    const req = {
      from_ms: now - 86_400_000,
      to_ms: now,
      lang: "en" as const,
      period: "day" as const,
      sites: [],
      generated_at_ms: now,
      timezone: "UTC",
    };
    const json = JSON.parse(await reportFromStore(store, { ...req, format: "json" }));
    expect(json.configuration).toMatchObject({
      expected_version: 5,
      expected_from: "newest-seen",
      not_ok: 2,
    });
    expect(
      json.configuration.sites.map((s: SiteConfigStatus) => [s.site, s.state, s.ok, s.heartbeat.state]),
    ).toEqual([
      ["bj-op-01", "current", false, "offline"],
      ["gz-op-01", "rejected", false, "online"],
      ["sh-op-01", "current", true, "online"],
    ]);
    const html = await reportFromStore(store, { ...req, format: "html" });
    expect(html).toContain('<p data-testid="config-expected" data-version="5">Expected version: v5</p>');
    const gz = html.match(/<tr data-testid="config-row"[^>]*data-site="gz-op-01"[^>]*>.*?<\/tr>/)?.[0] ?? "";
    expect(gz).toContain('data-state="rejected" data-ok="false" data-running=""');
    expect(gz).toMatch(/<td data-testid="config-reason">unknown-key: signed by key /);
  });
});
