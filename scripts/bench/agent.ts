import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "mqtt";
import { PROVINCES } from "../../agent/config/provinces.js";
import { messageHash, seal } from "../../agent/evidence/seal.js";
import { silentLogger } from "../../agent/log.js";
import { AGENT_NODE_FLAGS } from "../../agent/node-flags.js";
import { Reflector } from "../../agent/probe/stamp/reflector.js";
import { EmbeddedBroker } from "../../agent/publish/broker.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { CLI, freePort, table } from "./common.js";
import { installedAgentCli } from "./install-tree.js";
import { smapsBreakdown, smapsRows } from "./smaps.js";

/**
 * bench:agent — one agent process at Ürümqi (Xinjiang, > 1000 km from every other provincial capital)
 * running 30 continuous STAMP tests at 1 pps, one to a reflector for each other province, for a minute.
 * Prints the agent's RSS, its CPU share, and the send-time error its results report (p99).
 *
 * The agent measured is the one a Raspberry Pi runs: the release tarball installed with
 * `npm ci --omit=dev` (install-tree.ts), its bundle dist/bundle/cli.js started with the systemd unit's
 * Node.js flags. BENCH_ENTRY=tsc runs that tree's tsc output dist/agent/cli.js instead (what the bundle
 * saves); BENCH_TREE=dev measures this working tree's dist/agent/ (dev dependencies resolvable).
 * At the end it prints where the resident memory is, by kind of mapping (smaps.ts).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
/** Where the agent's own reflector loop runs (reflector.thread): BENCH_REFLECTOR_THREAD=worker measures the other. */
const THREAD = process.env.BENCH_REFLECTOR_THREAD ?? "main";
const INTERVAL_S = 10;
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat times are in these ticks

async function procSample(pid: number): Promise<{ rss_kb: number; cpu_ticks: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  // Fields after "(comm) ": index 11 = utime, 12 = stime (fields 14 and 15 of proc(5)).
  return { rss_kb: rss, cpu_ticks: Number(stat[11] ?? 0) + Number(stat[12] ?? 0) };
}

async function main(): Promise<void> {
  const tree = process.env.BENCH_TREE ?? "installed";
  if (tree !== "installed" && tree !== "dev")
    throw new Error(`BENCH_TREE must be installed or dev, got ${tree}`);
  const entry = process.env.BENCH_ENTRY ?? "bundle";
  if (entry !== "bundle" && entry !== "tsc")
    throw new Error(`BENCH_ENTRY must be bundle or tsc, got ${entry}`);
  const cli =
    tree === "dev" ? CLI : await installedAgentCli((line) => process.stderr.write(`  ${line}\n`), entry);
  const home = PROVINCES.find((p) => p.code === "650000");
  if (!home) throw new Error("Xinjiang missing from the province table");
  const peers = PROVINCES.filter((p) => p !== home);
  const reflectors: Reflector[] = [];
  for (let i = 0; i < peers.length; i += 1) {
    const r = new Reflector({
      host: "127.0.0.1",
      port: 0,
      clockSync: { synced: false, source: "bench" },
      log: silentLogger(),
    });
    await r.start();
    reflectors.push(r);
  }
  // The broker runs here, not in the agent: production agents publish to Mosquitto/EMQX (an mqtt
  // section), so the agent measured is the one deployed, without the embedded aedes broker.
  const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0, log: silentLogger() });
  await broker.start();
  const brokerPort = Number(new URL(broker.url).port);
  const dir = await mkdtemp(join(tmpdir(), "qosprobe-bench-agent-"));
  const site = (code: string) => `s${code.slice(0, 2)}`;
  const yaml = [
    "version: 1",
    `agent: { site: ${site(home.code)}, data_dir: ${join(dir, "data")}, log_level: warn }`,
    "sites:",
    `  - { id: ${site(home.code)}, operator: bench, province: "${home.code}", reflector: { host: 127.0.0.1, port: ${await freePort()} } }`,
    ...peers.map(
      (p, i) =>
        `  - { id: ${site(p.code)}, operator: bench, province: "${p.code}", reflector: { host: 127.0.0.1, port: ${reflectors[i]?.address().port} } }`,
    ),
    "tests:",
    ...peers.map(
      (p) =>
        `  - { id: xj-${site(p.code)}, method: stamp, from: ${site(home.code)}, to: ${site(p.code)}, rate_pps: 1, continuous: { interval_s: ${INTERVAL_S} } }`,
    ),
    `reflector: { thread: ${THREAD} }`,
    `mqtt: { url: "${broker.url}", protocol_version: 4 }`,
    "heartbeat: { interval_s: 30 }",
  ].join("\n");
  await writeFile(join(dir, "agent.yaml"), yaml);

  // The Node.js flags of the systemd unit and the container (BENCH_NODE_FLAGS="" measures without).
  const flags = (process.env.BENCH_NODE_FLAGS ?? AGENT_NODE_FLAGS.join(" ")).split(" ").filter(Boolean);
  const agent = spawn(process.execPath, [...flags, cli, "agent", "--config", join(dir, "agent.yaml")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pid = agent.pid;
  if (!pid) throw new Error("agent did not start");
  const results: ResultMessage[] = [];
  try {
    const client = connect(`mqtt://127.0.0.1:${brokerPort}`, { protocolVersion: 4, reconnectPeriod: 500 });
    client.on("message", (_t, payload) => results.push(JSON.parse(payload.toString()) as ResultMessage));
    client.on("connect", () => client.subscribe("qosprobe/v1/+/+/+/result/+", { qos: 1 }));

    console.log(
      `bench:agent  30 continuous STAMP tests at 1 pps, ${INTERVAL_S} s intervals, ${SECONDS} s, reflector loop on the ${THREAD} thread, node ${flags.join(" ") || "(no flags)"}\n  tree ${tree}: ${cli}\n`,
    );
    const start = await procSample(pid);
    const t0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - t0 < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 5_000));
      const s = await procSample(pid);
      rss.push(s.rss_kb);
      process.stderr.write(
        `  ${Math.round((performance.now() - t0) / 1000)} s: RSS ${(s.rss_kb / 1024).toFixed(1)} MiB, results ${results.length}\n`,
      );
    }
    const end = await procSample(pid);
    const smaps = await smapsBreakdown(pid, await realpath(process.execPath));
    const elapsedS = (performance.now() - t0) / 1000;
    const cpuShare = (end.cpu_ticks - start.cpu_ticks) / CLK_TCK / elapsedS;
    await client.endAsync();

    const p99s = results
      .map((r) => r.quality.send_error_ms.p99)
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    const lost = results.reduce((n, r) => n + r.packets.lost, 0);
    const sent = results.reduce((n, r) => n + r.packets.sent, 0);
    const pick = (q: number) => p99s[Math.max(0, Math.ceil(q * p99s.length) - 1)];
    console.log(
      table([
        ["figure", "value"],
        ["results received", String(results.length)],
        ["packets sent / lost", `${sent} / ${lost}`],
        ["RSS peak MiB", (Math.max(...rss) / 1024).toFixed(1)],
        ["RSS end MiB", (end.rss_kb / 1024).toFixed(1)],
        ...smapsRows(smaps),
        ["CPU share of one core", `${(cpuShare * 100).toFixed(2)} %`],
        ["send-time error p99, median interval ms", pick(0.5)?.toFixed(3) ?? "–"],
        ["send-time error p99, worst interval ms", p99s.at(-1)?.toFixed(3) ?? "–"],
        ...evidenceRows(results[0]),
      ]),
    );
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    for (const r of reflectors) await r.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Evidence cost per result (issue 11), on a real result of this run: RFC 8785 canonicalization, the
 * Ed25519 signature and the chain digest, timed over many repetitions; and the bytes prev + sig add.
 */
function evidenceRows(sample: ResultMessage | undefined): string[][] {
  if (!sample) return [["evidence", "no result to measure"]];
  const { prev: _p, sig: _s, ...rest } = sample;
  const bare = rest as Record<string, unknown>;
  const { privateKey } = generateKeyPairSync("ed25519");
  const N = 2_000;
  for (let i = 0; i < 200; i++) messageHash(seal(bare, null, privateKey)); // warm-up
  const t0 = performance.now();
  let prev: string | null = null;
  for (let i = 0; i < N; i++) prev = messageHash(seal({ ...bare, seq: i }, prev, privateKey));
  const us = ((performance.now() - t0) * 1000) / N;
  const before = Buffer.byteLength(JSON.stringify(bare));
  const after = Buffer.byteLength(JSON.stringify(seal(bare, prev, privateKey)));
  return [
    ["evidence: seal per result (JCS + Ed25519 + SHA-256) µs", us.toFixed(1)],
    [
      "evidence: message size without → with prev + sig, bytes",
      `${before} → ${after} (+${after - before}, +${(((after - before) / before) * 100).toFixed(1)} %)`,
    ],
  ];
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
