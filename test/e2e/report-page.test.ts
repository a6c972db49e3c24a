import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess, CLI } from "../helpers/agent-process.js";
import { freePort, type PrivateMosquitto, startMosquitto } from "../helpers/mosquitto.js";

/**
 * The whole system as deployed: a real Mosquitto, two agent processes measuring each other (Beijing ↔
 * Guangzhou, 1888 km), the collector process storing into PGlite and serving the report, and the page
 * loaded in Debian's headless Chromium through playwright-core. Under CI this must run.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function agentYaml(site: string, brokerUrl: string, ports: { bj: number; gz: number }) {
  return (dataDir: string) => `
version: 1
agent: { site: ${site}, data_dir: ${dataDir} }
sites:
  - { id: bj-e2e-01, operator: e2e, province: "110000", reflector: { host: 127.0.0.1, port: ${ports.bj} } }
  - { id: gz-e2e-01, operator: e2e, province: "440000", reflector: { host: 127.0.0.1, port: ${ports.gz} } }
tests:
  - { id: bj-gz-stamp, method: stamp, from: bj-e2e-01, to: gz-e2e-01, rate_pps: 20, loss_timeout_ms: 500, continuous: { interval_s: 1 } }
  - { id: gz-bj-stamp, method: stamp, from: gz-e2e-01, to: bj-e2e-01, rate_pps: 20, loss_timeout_ms: 500, continuous: { interval_s: 1 } }
mqtt: { url: "${brokerUrl}", client_id: qosprobe-e2e-${site} }
heartbeat: { interval_s: 5 }
`;
}

describe("end to end: agents → Mosquitto → collector → report page in Chromium", () => {
  let broker: PrivateMosquitto;
  const agents: AgentProcess[] = [];
  let collector: ChildProcess | undefined;
  let dir: string;
  let httpPort: number;
  let browser: Browser | undefined;

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = await mkdtemp(join(tmpdir(), "qosprobe-e2e-"));
    httpPort = await freePort();
    const ports = { bj: await freePort(), gz: await freePort() };
    const agentConfigPath = join(dir, "agents.yaml");
    await writeFile(agentConfigPath, agentYaml("bj-e2e-01", broker.url, ports)(join(dir, "agents")));
    await writeFile(
      join(dir, "collector.yaml"),
      [
        "version: 1",
        `mqtt: { url: "${broker.url}", client_id: qosprobe-e2e-collector, share_group: e2e }`,
        `database: { data_dir: ${JSON.stringify(join(dir, "pglite"))} }`,
        "ingest: { flush_interval_ms: 200 }",
        `http: { listen: "127.0.0.1:${httpPort}" }`,
        // A minute of loopback results is a sliver of the day: floor 0 so the verdicts are judged at all;
        // no cache, because the test polls the report until the results are in.
        "report: { lang: en, period: all, window_days: 1, coverage_floor: 0, cache_s: 0, timezone: UTC }",
        `sites_from: ${JSON.stringify(agentConfigPath)}`,
      ].join("\n"),
    );
    collector = spawn(process.execPath, [CLI, "collector", "--config", join(dir, "collector.yaml")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let collectorLog = "";
    collector.stderr?.on("data", (b: Buffer) => {
      collectorLog += b.toString();
    });
    // PGlite's first open takes seconds, more on a loaded machine.
    const until = Date.now() + 60_000;
    while (
      !(await fetch(`http://127.0.0.1:${httpPort}/healthz`)
        .then((r) => r.ok)
        .catch(() => false))
    ) {
      if (Date.now() > until) throw new Error(`collector did not come up:\n${collectorLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const site of ["bj-e2e-01", "gz-e2e-01"]) {
      const a = await AgentProcess.create(agentYaml(site, broker.url, ports));
      a.start();
      agents.push(a);
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const a of agents) await a.destroy();
    if (collector && collector.exitCode === null) {
      collector.kill("SIGTERM");
      await once(collector, "exit");
    }
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("stores both directions' results and the page shows each pair with its verdicts", async () => {
    // Wait until the store holds a few intervals of each direction.
    type Report = {
      operators: {
        sections: { pairs: { from_site: string; to: string; overall: { intervals: number } }[] }[];
      }[];
    };
    const intervals = async (): Promise<Map<string, number>> => {
      const r = (await (await fetch(`http://127.0.0.1:${httpPort}/report.json`)).json()) as Report;
      const m = new Map<string, number>();
      for (const op of r.operators)
        for (const s of op.sections)
          for (const p of s.pairs) m.set(`${p.from_site}>${p.to}`, p.overall.intervals);
      return m;
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = await intervals();
      if ((m.get("bj-e2e-01>gz-e2e-01") ?? 0) >= 3 && (m.get("gz-e2e-01>bj-e2e-01") ?? 0) >= 3) break;
      if (Date.now() > deadline) throw new Error(`results not stored in time: ${JSON.stringify([...m])}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const external: string[] = [];
    page.on("request", (req) => {
      if (!req.url().startsWith(`http://127.0.0.1:${httpPort}/`)) external.push(req.url());
    });
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    // One bucket (period "all") per pair: the pair rows are the rollups.
    const rows = page.locator('[data-testid="pair-row"]');
    expect(await rows.count()).toBe(2);
    const pairs = await rows.evaluateAll((els) =>
      els.map((e) => `${e.getAttribute("data-from")}>${e.getAttribute("data-to")}`),
    );
    expect(pairs.sort()).toEqual(["bj-e2e-01>gz-e2e-01", "gz-e2e-01>bj-e2e-01"]);
    // Loopback usually answers in well under a millisecond, faster than light over 1888 km: such
    // intervals are flagged rtt-below-light-bound, kept out of the verdicts and counted beside them. (On
    // a loaded machine some intervals are slower than the bound and do count, so the verdicts vary.)
    for (const indicator of ["delay", "delay_variation", "loss", "availability"]) {
      const verdicts = await rows
        .locator(`[data-testid="verdict-${indicator}"]`)
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-verdict")));
      expect(verdicts).toHaveLength(2);
      for (const v of verdicts) expect(["pass", "fail", "insufficient"]).toContain(v);
    }
    const notes = await rows.evaluateAll((els) => els.map((e) => e.textContent ?? ""));
    for (const text of notes)
      expect(text).toMatch(/Flagged intervals \(aborted, RTT below light bound\) [1-9]/);
    await expect(page.locator('[data-testid="site-map"]').count()).resolves.toBe(1);
    // The page is self-contained: nothing was fetched from anywhere but the collector.
    expect(external).toEqual([]);
  }, 60_000);
});
