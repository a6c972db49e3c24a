import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PrivateMosquitto, startMosquitto } from "../lab/mosquitto.js";
import { judgeDrill, type LoggedResult, type Phase, renderVerdict } from "./compare.js";
import { killAllRolesNow, RoleProcess, readLogLines, sleep } from "./roles.js";
import {
  agentYaml,
  collectorYaml,
  DrillDatabase,
  type DrillSite,
  drillSites,
  statusDepth,
  tearOutboxTail,
} from "./setup.js";

/**
 * `npm run drill:delivery`: nothing lost, end to end (issue 7). A private Mosquitto (persistence on,
 * max_queued_messages 100), two collectors sharing one fresh PostgreSQL database, three agents measuring
 * each other with STAMP on loopback, all run as deployed (`node dist/agent/cli.js agent|collector`).
 * Faults in turn: broker restart with persistence, broker restart without persistence, collectors away
 * long enough to overflow the broker's queue, agent SIGKILL, collector SIGKILL, agent SIGKILL with the
 * outbox's tail torn. Then the agents stop measuring (SIGHUP with no tests), the drill waits for the
 * store to settle and compares, per agent, the seqs produced with the seqs stored.
 *
 * Exit 0: every produced seq stored exactly once. Exit 1: losses or duplicates. Exit 2: the drill could
 * not run (setup failed, hard timeout, Ctrl-C). Everything it started is stopped and removed in every
 * case: processes, broker, temp directory, database (QOSPROBE_DRILL_KEEP=1 keeps the directory and logs).
 * PostgreSQL: QOSPROBE_DRILL_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres.
 */

const ADMIN_URL = process.env.QOSPROBE_DRILL_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const KEEP = process.env.QOSPROBE_DRILL_KEEP === "1";

/** 6 tests × one result a second: 60 s without collectors is 360 results, over 2 × (100 queued + 20 in flight). */
const INTERVAL_S = 1;
const QUEUE_LIMIT = 100;
const WARMUP_MS = 8_000;
const AFTER_FAULT_MS = 12_000;
const BROKER_DOWN_MS = 2_000;
const COLLECTORS_AWAY_MS = 60_000;
const PROCESS_DOWN_MS = 3_000;
const TEAR_BYTES = 7;
const TEAR_ATTEMPTS = 5;
/** Longer than one receipt timeout (60 s by default) plus a republish, a store and a heartbeat. */
const DRAIN_MAX_MS = 120_000;
/** The store unchanged this long with every outbox empty: nothing more is coming. */
const SETTLED_MS = 10_000;
const HARD_TIMEOUT_MS = 7 * 60_000;
/** Node start-up of a role on a loaded 2-core host took up to ~10 s; leave room. */
const READY_MS = 60_000;

const started = Date.now();
const phases: Phase[] = [];

function progress(message: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`[${s.padStart(6)}s] ${message}`);
}

function udpFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * The agent's own record of what it produced: its log line for each result made durable in the outbox
 * (`"msg":"result"` with `seq` and `test`; `id` / `result_id` when the line carries the result id).
 */
function loggedResults(agent: RoleProcess): LoggedResult[] {
  return readLogLines(agent.logPath)
    .filter((l) => l.msg === "result" && typeof l.seq === "number")
    .map((l) => {
      const id = typeof l.id === "string" ? l.id : typeof l.result_id === "string" ? l.result_id : undefined;
      return {
        seq: l.seq as number,
        time: typeof l.time === "number" ? l.time : 0,
        ...(typeof l.test === "string" ? { test: l.test } : {}),
        ...(id ? { id } : {}),
      };
    });
}

interface Drill {
  root: string;
  broker: PrivateMosquitto | null;
  db: DrillDatabase;
  sites: DrillSite[];
  agents: Map<string, RoleProcess>;
  collectors: RoleProcess[];
  agentConfig: string;
  agentDataDir: string;
}

function agentLogs(d: Drill): Map<string, LoggedResult[]> {
  return new Map([...d.agents].map(([site, agent]) => [site, loggedResults(agent)]));
}

async function status(d: Drill): Promise<string> {
  const stored = await d.db.stored();
  const made = [...d.agents]
    .map(([site, agent]) => `${site.slice(0, 2)} ${Math.max(0, ...loggedResults(agent).map((l) => l.seq))}`)
    .join(", ");
  return `highest seq ${made} · stored ${stored.length}`;
}

function beginPhase(name: string): void {
  phases.push({ name, start: Date.now() });
}

async function startCollector(c: RoleProcess): Promise<void> {
  c.start();
  await c.waitForLog("collector: MQTT connected", READY_MS);
}

async function startAgent(a: RoleProcess): Promise<void> {
  a.start();
  await a.waitForLog((l) => typeof l.msg === "string" && /^agent .* running$/.test(l.msg), READY_MS);
}

/** Sleep `ms`, printing the drill's state every 10 s. */
async function observe(d: Drill, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await sleep(Math.min(10_000, until - Date.now()));
    progress(`  ${await status(d)}`);
  }
}

async function setUp(d: Drill): Promise<void> {
  await d.db.create();
  d.broker = await startMosquitto({ max_queued_messages: QUEUE_LIMIT });
  const brokerUrl = d.broker.url;
  const ports = [await udpFreePort(), await udpFreePort(), await udpFreePort()];
  d.sites = drillSites(ports);
  writeFileSync(
    d.agentConfig,
    agentYaml({ sites: d.sites, brokerUrl, dataDir: d.agentDataDir, intervalS: INTERVAL_S }),
  );
  for (const name of ["c1", "c2"]) {
    const file = join(d.root, `collector-${name}.yaml`);
    writeFileSync(
      file,
      collectorYaml({ brokerUrl, clientId: `qosprobe-drill-${name}`, databaseUrl: d.db.url }),
    );
    d.collectors.push(
      new RoleProcess(
        `collector ${name}`,
        ["collector", "--config", file],
        join(d.root, `collector-${name}.log`),
      ),
    );
  }
  for (const site of d.sites) {
    d.agents.set(
      site.id,
      new RoleProcess(
        `agent ${site.id}`,
        ["agent", "--config", d.agentConfig],
        join(d.root, `agent-${site.id}.log`),
        {
          QOSPROBE_SITE: site.id,
        },
      ),
    );
  }
  // The first collector alone creates the schema in the fresh database; then everyone else at once.
  const [first, ...others] = d.collectors;
  if (first) await startCollector(first);
  await Promise.all([...others.map(startCollector), ...[...d.agents.values()].map(startAgent)]);
  progress(
    `set up: Mosquitto ${brokerUrl} (persistence, max_queued_messages ${QUEUE_LIMIT}), ` +
      `database ${d.db.name}, collectors c1 c2, agents ${d.sites.map((s) => `${s.id} (${s.city})`).join(", ")}; ` +
      `6 STAMP tests, one result each per ${INTERVAL_S} s`,
  );
}

/** SIGKILL the agent at a moment when its newest logged result is stored, cut its outbox tail, restart. */
async function tornTail(d: Drill, site: string): Promise<void> {
  const agent = d.agents.get(site);
  if (!agent) throw new Error(`no agent ${site}`);
  const newestStored = async (wait: number): Promise<boolean> => {
    const until = Date.now() + wait;
    for (;;) {
      const newest = Math.max(0, ...loggedResults(agent).map((l) => l.seq));
      const stored = await d.db.stored();
      if (newest > 0 && stored.some((r) => r.site === site && r.seq === newest)) return true;
      if (Date.now() > until) return false;
      await sleep(50);
    }
  };
  for (let attempt = 1; attempt <= TEAR_ATTEMPTS; attempt++) {
    await newestStored(10_000);
    await agent.kill();
    // A torn write only ever cuts a record the agent never finished: tear only when the newest result is
    // already in the store, so a loss here is the agent's doing (a seq handed out again), not the drill's.
    if (await newestStored(3_000)) {
      const torn = await tearOutboxTail(join(d.agentDataDir, site, "outbox"), TEAR_BYTES);
      progress(
        torn
          ? `  ${site} SIGKILLed, last ${TEAR_BYTES} bytes of ${torn.file.split("/").at(-1)} cut (was ${torn.size} bytes)`
          : `  ${site} SIGKILLed, but its outbox has no segment to tear`,
      );
      await sleep(PROCESS_DOWN_MS);
      await startAgent(agent);
      return;
    }
    progress(
      `  ${site}: newest result not stored yet at the kill (attempt ${attempt}); restarting untorn, retrying`,
    );
    await startAgent(agent);
    await sleep(2_000);
  }
  throw new Error(`could not catch ${site} with its newest result stored in ${TEAR_ATTEMPTS} attempts`);
}

async function faults(d: Drill): Promise<void> {
  const broker = d.broker;
  if (!broker) throw new Error("no broker");
  const [c1, c2] = d.collectors as [RoleProcess, RoleProcess];
  const agent = (site: string) => d.agents.get(site) as RoleProcess;
  const [bj, gz] = [d.sites[0]?.id ?? "", d.sites[1]?.id ?? ""];

  beginPhase("warm-up");
  progress(`warm-up ${WARMUP_MS / 1000} s`);
  await observe(d, WARMUP_MS);

  beginPhase("F1 broker restart with persistence");
  progress(`fault 1/6: broker restart with persistence (down ${BROKER_DOWN_MS / 1000} s)`);
  await broker.restart(BROKER_DOWN_MS);
  await observe(d, AFTER_FAULT_MS);

  beginPhase("F2 broker restart without persistence");
  progress(
    `fault 2/6: broker restart without persistence (down ${BROKER_DOWN_MS / 1000} s, mosquitto.db deleted)`,
  );
  await broker.restart(BROKER_DOWN_MS, { wipe: true });
  await observe(d, AFTER_FAULT_MS);

  beginPhase("F3 collectors stopped");
  progress(
    `fault 3/6: both collectors stopped (SIGTERM) for ${COLLECTORS_AWAY_MS / 1000} s, broker queue limit ${QUEUE_LIMIT}`,
  );
  await Promise.all([c1.stop(), c2.stop()]);
  await observe(d, COLLECTORS_AWAY_MS);
  await startCollector(c1);
  await startCollector(c2);
  progress("  collectors back");
  await observe(d, AFTER_FAULT_MS);

  beginPhase("F4 agent SIGKILL");
  progress(`fault 4/6: agent ${bj} SIGKILLed, restarted after ${PROCESS_DOWN_MS / 1000} s`);
  await agent(bj).kill();
  await sleep(PROCESS_DOWN_MS);
  await startAgent(agent(bj));
  await observe(d, AFTER_FAULT_MS);

  beginPhase("F5 collector SIGKILL");
  progress(`fault 5/6: collector c1 SIGKILLed, restarted after ${PROCESS_DOWN_MS / 1000} s`);
  await c1.kill();
  await sleep(PROCESS_DOWN_MS);
  await startCollector(c1);
  await observe(d, AFTER_FAULT_MS);

  beginPhase("F6 outbox tail torn");
  progress(`fault 6/6: agent ${gz} SIGKILLed with its outbox tail torn, restarted`);
  await tornTail(d, gz);
  await observe(d, AFTER_FAULT_MS);
}

/** Stop measuring (SIGHUP with a configuration without tests), then wait until the store settles. */
async function drain(d: Drill): Promise<void> {
  beginPhase("drain");
  progress(`drain: agents reload a configuration without tests (SIGHUP); waiting ≤ ${DRAIN_MAX_MS / 1000} s`);
  writeFileSync(
    d.agentConfig,
    agentYaml({ sites: d.sites, brokerUrl: d.broker?.url ?? "", dataDir: d.agentDataDir, intervalS: 0 }),
  );
  for (const agent of d.agents.values()) agent.send("SIGHUP");
  await Promise.all([...d.agents.values()].map((a) => a.waitForLog("configuration reloaded", READY_MS)));
  const until = Date.now() + DRAIN_MAX_MS;
  let lastCount = -1;
  let sameSince = Date.now();
  let lastPrint = Date.now();
  for (;;) {
    const stored = await d.db.stored();
    if (judgeDrill([...d.agents.keys()], agentLogs(d), stored).ok) {
      progress(`drain: every produced seq is stored (${stored.length} results)`);
      return;
    }
    if (stored.length !== lastCount) {
      lastCount = stored.length;
      sameSince = Date.now();
    }
    const depths = await Promise.all(
      [...d.agents.keys()].map((site) => statusDepth(join(d.agentDataDir, site))),
    );
    if (Date.now() - sameSince >= SETTLED_MS && depths.every((n) => n === 0)) {
      progress(`drain: settled (store unchanged for ${SETTLED_MS / 1000} s, every outbox empty)`);
      return;
    }
    if (Date.now() > until) {
      progress(`drain: gave up after ${DRAIN_MAX_MS / 1000} s (outbox depths ${depths.join(", ")})`);
      return;
    }
    if (Date.now() - lastPrint >= 10_000) {
      lastPrint = Date.now();
      progress(`  ${await status(d)} · outbox depths ${depths.map((n) => n ?? "?").join(", ")}`);
    }
    await sleep(1_000);
  }
}

async function report(d: Drill): Promise<boolean> {
  await Promise.all([...d.agents.values(), ...d.collectors].map((p) => p.stop("SIGTERM", 15_000)));
  const stored = await d.db.stored();
  const verdict = judgeDrill([...d.agents.keys()], agentLogs(d), stored, phases);
  const dropWarnings = (d.broker?.output().match(/messages are being dropped/g) ?? []).length;
  console.log("");
  console.log(renderVerdict(verdict));
  console.log(
    `store: ${stored.length} rows, ${await d.db.rejects()} rejects · broker: ${dropWarnings} "messages are being dropped" warnings`,
  );
  return verdict.ok;
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), "qosprobe-drill-"));
  const d: Drill = {
    root,
    broker: null,
    db: new DrillDatabase(ADMIN_URL),
    sites: [],
    agents: new Map(),
    collectors: [],
    agentConfig: join(root, "agent.yaml"),
    agentDataDir: join(root, "agents"),
  };
  let cleaning: Promise<void> | null = null;
  const cleanUp = (): Promise<void> => {
    cleaning ??= (async () => {
      killAllRolesNow();
      await d.broker?.stop().catch((err: unknown) => progress(`cleanup: broker: ${(err as Error).message}`));
      await d.db.drop().catch((err: unknown) => progress(`cleanup: database: ${(err as Error).message}`));
      if (KEEP) progress(`cleanup: kept ${root} (QOSPROBE_DRILL_KEEP=1)`);
      else rmSync(root, { recursive: true, force: true });
    })();
    return cleaning;
  };
  // Last resort if something exits the process without the cleanup (the database needs async work).
  process.on("exit", () => {
    killAllRolesNow();
    if (!KEEP) rmSync(root, { recursive: true, force: true });
  });
  const abort = (why: string) => {
    progress(`drill aborted: ${why}; cleaning up`);
    void cleanUp().finally(() => process.exit(2));
  };
  process.once("SIGINT", () => abort("interrupted (SIGINT)"));
  process.once("SIGTERM", () => abort("terminated (SIGTERM)"));
  const hardTimeout = setTimeout(() => abort(`hard timeout of ${HARD_TIMEOUT_MS / 1000} s`), HARD_TIMEOUT_MS);
  hardTimeout.unref();

  progress(`drill:delivery — logs in ${root}`);
  try {
    await setUp(d);
    await faults(d);
    await drain(d);
    const ok = await report(d);
    progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return ok ? 0 : 1;
  } catch (err) {
    progress(`drill aborted: ${(err as Error).stack ?? String(err)}`);
    if (!KEEP) progress("rerun with QOSPROBE_DRILL_KEEP=1 to keep the logs");
    return 2;
  } finally {
    clearTimeout(hardTimeout);
    await cleanUp();
  }
}

process.exitCode = await main();
