import { execFile, spawn } from "node:child_process";
import { generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { seal, sealedPayload } from "../../agent/evidence/seal.js";
import { silentLogger } from "../../agent/log.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { DEFAULT_BATCH_SIZE, DEFAULT_CONNECTIONS_MQTT5 } from "../../collector/config.js";
import { DeviceKeys } from "../../collector/evidence.js";
import { type AcceptOutcome, Ingest } from "../../collector/ingest.js";
import { COLLECTOR_NODE_FLAGS } from "../../collector/node-flags.js";
import { ReportServer } from "../../collector/report/server.js";
import { openPostgresStore } from "../../collector/store/postgres.js";
import type { ResultStore } from "../../collector/store/store.js";
import { faultUpsert, windowUpsert } from "../../collector/store/windows-sql.js";
import { IN_FLIGHT } from "../../collector/subscriber.js";
import { isoInZone } from "../../collector/timezone.js";
import { buildResult, resultTopic } from "../lab/result-factory.js";
import { bulkResultsSelect } from "./bulk-results.js";
import { median, table } from "./common.js";

/**
 * `npm run bench:report`: a national month in PostgreSQL, and how fast the monthly report comes back.
 *
 * 1. A fresh database (dropped at the end), migrated.
 * 2. Ingest rate through the real path (JSON payload → validate → Ingest batches → COPY with the
 *    rollup queue in one statement; the catch-up pass into windows, hours and faults on Ingest's timer,
 *    BENCH_ROLLUP_MS, and once more at the end, all counted): the first minutes of the month for
 *    every pair, as result messages, fed as the collector's MQTT reads deliver them (BENCH_CHUNK
 *    messages per event-loop turn, at most BENCH_WINDOW unsettled: the broker's Receive Maximum over
 *    the default 4 connections, 4,000; group commit, batches of BENCH_BATCH as collector.yaml's
 *    ingest.batch_size). BENCH_RUNS runs of BENCH_RUN_MINUTES each unsigned (JSON.stringify, as an
 *    agent without a device key publishes), each timed on its own with a new Ingest (this host is
 *    shared: one run can be slowed by a neighbour, so each run and the median are shown); then one run
 *    of BENCH_RUN_MINUTES sealed by each site's device key (Ed25519 over RFC 8785 bytes, hash
 *    chain) and published as the agent does (its RFC 8785 bytes, chain.ts nextPayload), with the keys
 *    registered, so every result is authenticated (its own signature, or a successor's through the
 *    chain: evidence.ts checkBatch) and its chain link recorded, as a regulator's collector does.
 * 3. The rest of the month by bulk SQL (generate_series rows with the columns of `results`, payload
 *    reduced to the key fields): the first BENCH_STORE_DAYS days stored in `results` and their windows
 *    rebuilt with ingest's SQL (`rebuildWindows`); the later days fed to the same window and fault SQL
 *    directly. The window table is what a month of ingest would have built; the report reads only it.
 * 4. The monthly report (November 2026 in Asia/Shanghai, period=day) as HTML, CSV and JSON from the
 *    collector's ReportServer over HTTP, cache cold (a new server per format), with this process's RSS
 *    sampled every 20 ms (the report runs in the collector's process).
 *
 * Goals (issue 9): each report ≤ 5 s with RSS ≤ 300 MB; ingest ≥ 20,000 results/s.
 * BENCH_PAIRS (300), BENCH_RUNS (3), BENCH_RUN_MINUTES (240: 72,000 results a run), BENCH_BATCH (collector.yaml's default, 1000), BENCH_CHUNK (250), BENCH_WINDOW (4000),
 * BENCH_LANES (Ingest's writeConcurrency), QOSPROBE_BENCH_PG_URL. BENCH_INGEST_ONLY=1 stops after step 2. BENCH_KEEP=1 keeps the database (its name is printed); BENCH_DB=<name> skips
 * steps 1–3 and times the reports on a database kept before.
 */
const PAIRS = Number(process.env.BENCH_PAIRS ?? 300);
/** Unsigned ingest runs, each of RUN_MINUTES of every pair (BENCH_RUNS, BENCH_RUN_MINUTES). */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RUN_MINUTES = Number(process.env.BENCH_RUN_MINUTES ?? 240);
/** The minutes of the month that go through ingest: the unsigned runs, then the signed one. */
const SAMPLE_MINUTES = (RUNS + 1) * RUN_MINUTES;
const ADMIN_URL = process.env.QOSPROBE_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ZONE = "Asia/Shanghai";
/** November 2026 in Beijing time: [2026-11-01T00:00+08:00, 2026-12-01T00:00+08:00). */
const MONTH_FROM = Date.parse("2026-11-01T00:00:00+08:00");
const MONTH_TO = Date.parse("2026-12-01T00:00:00+08:00");
const MINUTES = (MONTH_TO - MONTH_FROM) / 60_000;
const SITES = 25;
/** Days whose results are stored as rows (the rest feed the window SQL directly). */
const STORE_DAYS = Number(process.env.BENCH_STORE_DAYS ?? 1);
const BATCH = Number(process.env.BENCH_BATCH ?? DEFAULT_BATCH_SIZE);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 250);
/** Deliveries in flight at most: the default MQTT 5 share group's Receive Maximum (connections × IN_FLIGHT). */
const WINDOW = Number(process.env.BENCH_WINDOW ?? DEFAULT_CONNECTIONS_MQTT5 * IN_FLIGHT);
const KEEP = process.env.BENCH_KEEP === "1";
const REUSE_DB = process.env.BENCH_DB;
/** Set for the child process that times the reports (step 4) on the parent's database. */
const REPORT_CHILD = process.env.BENCH_REPORT_CHILD === "1";
/** Only step 2 (the ingest rates): quick to repeat while working on ingest. */
const INGEST_ONLY = process.env.BENCH_INGEST_ONLY === "1";
/** Ingest's catch-up pass interval, ms (BENCH_ROLLUP_MS; default Ingest's). */
const ROLLUP_MS = process.env.BENCH_ROLLUP_MS ? Number(process.env.BENCH_ROLLUP_MS) : undefined;
/** Ingest's write lanes (BENCH_LANES; default Ingest's writeConcurrency). */
const LANES = process.env.BENCH_LANES ? Number(process.env.BENCH_LANES) : undefined;

/** Pair p: from site p % 25 to another site, test id unique per pair; 25 sites × 12 peers = 300. */
function pairOf(p: number): { site: string; peer: string; test: string } {
  const a = p % SITES;
  const b = (a + 1 + Math.floor(p / SITES)) % SITES;
  return { site: `s${a}`, peer: `s${b}`, test: `t${p}-stamp` };
}

function sampleResult(p: number, minute: number, seq: number): ResultMessage {
  const { site, peer, test } = pairOf(p);
  const m = buildResult({
    seq,
    site,
    operator: "op-bench",
    province: "110000",
    testId: test,
    peerSite: peer,
    peerProvince: "440000",
    sent: 60,
    received: 60 - (minute % 97 === p % 97 ? 3 : 0),
    rttMeanMs: 30 + (p % 50),
    intervalStart: new Date(MONTH_FROM + minute * 60_000).toISOString(),
  });
  m.test.rate_pps = 1;
  return m;
}

const BULK_SELECT = bulkResultsSelect(PAIRS, SITES, MONTH_FROM);

/** The same rows without what no rollup reads (id, payload): nothing to store, nothing to compute. */
const WINDOW_SOURCE = BULK_SELECT.replace("gen_random_uuid() AS id", "NULL::uuid AS id").replace(
  /jsonb_build_object\([^)]*\) AS payload/,
  "NULL::jsonb AS payload",
);

/** Steps 2 and 3: the sample through ingest, then the rest of the month in bulk. */
async function fill(store: ResultStore, dbUrlText: string, rows: string[][]): Promise<void> {
  const total = PAIRS * MINUTES;
  console.log(
    `bench:report: ${PAIRS} pairs × ${MINUTES} minutes = ${total.toLocaleString("en")} results ` +
      `(node ${process.execArgv.join(" ") || "without flags"}; the collector's: ${COLLECTOR_NODE_FLAGS.join(" ")})`,
  );

  // 2. Ingest through the real path: RUNS unsigned runs, then one sealed with registered device keys.
  const keys = siteKeys();
  const seqs = new Map<string, number>();
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const unsigned = samplePayloads(r * RUN_MINUTES, (r + 1) * RUN_MINUTES, null, seqs);
    runs.push(await ingestRate(dbUrlText, store, unsigned, undefined));
  }
  rows.push([
    `ingest, unsigned (validate + COPY + rollup pass; batches ≤ ${BATCH}), ${RUNS} run${RUNS === 1 ? "" : "s"} of ${(runs[0]?.stored ?? 0).toLocaleString("en")} results`,
    runsCell(runs),
  ]);
  const signed = samplePayloads(RUNS * RUN_MINUTES, SAMPLE_MINUTES, keys.private, seqs);
  const r2 = await ingestRate(dbUrlText, store, signed, keys.registered);
  signed.length = 0;
  rows.push([
    `ingest, signed (+ Ed25519 verify, chain), ${r2.stored.toLocaleString("en")} results`,
    rateCell(r2),
  ]);
  if (INGEST_ONLY) return;

  // 3. Bulk month, then the same window SQL over it, a day at a time.
  const db = new pg.Client({ connectionString: dbUrlText });
  // The final DROP … WITH (FORCE) ends this connection if a step failed: not a second failure.
  db.on("error", () => {});
  await db.connect();
  const tb = performance.now();
  // The monthly partitions the bulk rows fall in (ingest makes them on demand; bulk SQL cannot).
  for (const t of [MONTH_FROM, MONTH_TO - 1]) {
    await db.query("SELECT qosprobe_results_partition($1::timestamptz)", [new Date(t).toISOString()]);
  }
  const DAY_MIN = 1440;
  // Days [0, STORE_DAYS): results stored (bulk INSERT after the ingested sample), then the window
  // and fault tables rebuilt from them with ingest's SQL. Later days: the same window and fault SQL
  // run over the generated rows directly (windowUpsert(source)), not storing 12 M payload rows
  // (this shared 2-core machine cannot write them in the time available); the report reads only
  // the window tables, so what it is timed on is the same.
  for (let m = SAMPLE_MINUTES; m < STORE_DAYS * DAY_MIN; ) {
    const end = Math.min(MINUTES, (Math.floor(m / DAY_MIN) + 1) * DAY_MIN);
    await db.query(`INSERT INTO results SELECT * FROM (${BULK_SELECT}) b`, [m, end]);
    m = end;
  }
  const bulkS = (performance.now() - tb) / 1000;
  console.log(`bulk results (${STORE_DAYS} days): ${bulkS.toFixed(0)} s`);
  const tw = performance.now();
  for (let d = 0; d * DAY_MIN < MINUTES; d++) {
    const t1 = performance.now();
    if (d < STORE_DAYS) {
      const from = MONTH_FROM + d * DAY_MIN * 60_000;
      await store.rebuildWindows({ from: new Date(from), to: new Date(from + DAY_MIN * 60_000) });
    } else {
      const range = [d * DAY_MIN, Math.min(MINUTES, (d + 1) * DAY_MIN)];
      await db.query(windowUpsert(WINDOW_SOURCE), range);
      await db.query(faultUpsert(WINDOW_SOURCE), range);
    }
    console.log(`day ${d + 1}: windows in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }
  const winS = (performance.now() - tw) / 1000;
  await db.query("VACUUM ANALYZE windows");
  await db.query("VACUUM ANALYZE fault_windows");
  await db.query("VACUUM ANALYZE window_hours");
  const counts = (
    await db.query<{ r: string; w: string; f: string }>(
      "SELECT (SELECT count(*) FROM results) r, (SELECT count(*) FROM windows) w, (SELECT count(*) FROM fault_windows) f",
    )
  ).rows[0];
  const size = (
    await db.query<{ s: string }>("SELECT pg_size_pretty(pg_database_size(current_database())) s")
  ).rows[0];
  await db.end();
  rows.push([
    `bulk-load results of day 1..${STORE_DAYS} (generate_series, ${PAIRS} pairs)`,
    `${bulkS.toFixed(0)} s`,
  ]);
  rows.push([
    `window + fault tables: rebuilt from stored results (days 1..${STORE_DAYS}), from generated rows (the rest)`,
    `${winS.toFixed(0)} s`,
  ]);
  rows.push([
    "stored",
    `${Number(counts?.r).toLocaleString("en")} results, ${Number(counts?.w).toLocaleString("en")} windows, ${counts?.f} fault rows; database ${size?.s}`,
  ]);
}

/** One Ed25519 device key per site, and the collector's registry of their public halves. */
function siteKeys(): { private: Map<string, KeyObject>; registered: DeviceKeys } {
  const priv = new Map<string, KeyObject>();
  const sites = [];
  for (let a = 0; a < SITES; a++) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    priv.set(`s${a}`, privateKey);
    const jwk = publicKey.export({ format: "jwk" }) as { x: string };
    sites.push({
      site: `s${a}`,
      operator: "op-bench",
      device_key: { kty: "OKP" as const, crv: "Ed25519" as const, x: jwk.x },
    });
  }
  return { private: priv, registered: new DeviceKeys(sites) };
}

/** Minutes [from, to) of every pair as (topic, payload); sealed per site, in seq order, when keys are given. */
function samplePayloads(
  from: number,
  to: number,
  keys: Map<string, KeyObject> | null,
  seqs: Map<string, number>,
): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  const prev = new Map<string, string | null>();
  for (let minute = from; minute < to; minute++) {
    for (let p = 0; p < PAIRS; p++) {
      const site = pairOf(p).site;
      // Seqs per agent (site), from 1, continuing across calls.
      const seq = (seqs.get(site) ?? 0) + 1;
      seqs.set(site, seq);
      const m: ResultMessage = sampleResult(p, minute, seq);
      const key = keys?.get(site);
      if (key) {
        // As the agent publishes a sealed result (agent/evidence/chain.ts nextPayload): RFC 8785 bytes.
        const sealed = seal(m as unknown as Record<string, unknown>, prev.get(site) ?? null, key);
        const { bytes, digest } = sealedPayload(sealed);
        prev.set(site, digest);
        out.push([resultTopic(m), bytes]);
      } else out.push([resultTopic(m), Buffer.from(JSON.stringify(m))]);
    }
  }
  return out;
}

/**
 * Results per second stored (each acknowledged once its batch committed), and per second stored and
 * rolled up: the second counts the time of the catch-up pass over what the timer's passes had not
 * reached when the last result was stored (a report would run that pass before it reads).
 */
function rateCell(r: { stored: number; seconds: number; rolledSeconds: number }): string {
  const rate = (s: number) => Math.round(r.stored / s).toLocaleString("en");
  return `${rate(r.seconds)} results/s stored; ${rate(r.rolledSeconds)}/s stored and rolled up`;
}

/**
 * How fast this host runs right now: CPU µs per JSON.parse of one result payload, the median of 7
 * rounds of 2,000 (the run's first payload; 0 when there is none). This shared machine's speed moves
 * by half within seconds (a loop like this one over a 3 kB text: 14.4, then 23.6 µs 4 s later, the VM
 * otherwise idle, 2026-12-01), and every figure of a run moves with it: compare runs at similar
 * references.
 */
function hostReferenceUs(payload: Buffer | undefined): number {
  if (!payload) return 0;
  const text = payload.toString("utf8");
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 2000; i++) JSON.parse(text);
    const c = process.cpuUsage(c0);
    rounds.push((c.user + c.system) / 2000);
  }
  return median(rounds) ?? 0;
}

/** Runs' rates as their median and each run, stored and stored-and-rolled-up (rateCell's two figures). */
function runsCell(runs: ReadonlyArray<{ stored: number; seconds: number; rolledSeconds: number }>): string {
  const fmt = (xs: number[]) => {
    const m = median(xs) ?? 0;
    return `median ${Math.round(m).toLocaleString("en")} (${xs.map((x) => Math.round(x).toLocaleString("en")).join(", ")})`;
  };
  return `${fmt(runs.map((r) => r.stored / r.seconds))} results/s stored; ${fmt(runs.map((r) => r.stored / r.rolledSeconds))}/s stored and rolled up`;
}

/**
 * Feed `payloads` as the collector's subscriber does: CHUNK deliveries per event-loop turn (what one
 * socket read parses), group commit, batches of at most BATCH. Timed until every one is settled.
 */
async function ingestRate(
  dbUrl: string,
  store: ResultStore,
  payloads: ReadonlyArray<[string, Buffer]>,
  deviceKeys: DeviceKeys | undefined,
): Promise<{ stored: number; seconds: number; rolledSeconds: number; nodeUs: number; pgUs: number }> {
  const reference = hostReferenceUs(payloads[0]?.[1]);
  let batches = 0;
  let inBatches = 0;
  const ingest = new Ingest({
    store,
    log: silentLogger(),
    batchSize: BATCH,
    groupCommit: true,
    maxPending: 1_000_000,
    onStored: (msgs) => {
      batches += 1;
      inBatches += msgs.length;
    },
    ...(deviceKeys ? { deviceKeys } : {}),
    ...(ROLLUP_MS ? { rollupIntervalMs: ROLLUP_MS } : {}),
    ...(LANES ? { writeConcurrency: LANES } : {}),
  });
  ingest.start();
  const pg0 = await backendCpu(dbUrl);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Outcomes are counted as they settle, as the subscriber acks each delivery and drops it (this bench
  // held every accept's promise to the end; 3 alternated pairs showed no difference in rate or CPU).
  let stored = 0;
  let settledCount = 0;
  let allSettled: () => void = () => {};
  const done = new Promise<void>((r) => (allSettled = r));
  // A broker never has more unacknowledged deliveries out to the collector than its connections'
  // Receive Maximum (subscriber.ts IN_FLIGHT each): the next ones wait for PUBACKs, i.e. for stores.
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const settledOne = (o: AcceptOutcome): void => {
    inFlight -= 1;
    settledCount += 1;
    if (o === "stored") stored += 1;
    if (wake && inFlight + CHUNK <= WINDOW) {
      const w = wake;
      wake = null;
      w();
    }
    if (settledCount === payloads.length) allSettled();
  };
  for (let i = 0; i < payloads.length; i += CHUNK) {
    while (inFlight + CHUNK > WINDOW) await new Promise<void>((r) => (wake = r));
    for (let j = i; j < Math.min(i + CHUNK, payloads.length); j++) {
      const [t, b] = payloads[j] as [string, Buffer];
      inFlight += 1;
      void ingest.accept(t, b).then(settledOne);
    }
    await new Promise((r) => setImmediate(r));
  }
  if (payloads.length > 0) await done;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  let pg1 = await backendCpu(dbUrl);
  // What the timer's catch-up passes left (migration 007): counted in the PostgreSQL figure, also
  // shown apart. With BENCH_ROLLUP_MS above the run's length that is the whole rollup cost.
  let passUs = 0;
  let passed = 0;
  let passSeconds = 0;
  if (store.rollup) {
    const tp = performance.now();
    passed = await store.rollup();
    passSeconds = (performance.now() - tp) / 1000;
    const pg2 = await backendCpu(dbUrl);
    for (const [pid, s] of pg2) passUs += s - (pg1.get(pid) ?? 0);
    passUs = (passUs * 1e6) / payloads.length;
    pg1 = pg2;
  }
  await ingest.stop();
  if (stored !== payloads.length)
    throw new Error(`ingest: ${stored} of ${payloads.length} stored (${JSON.stringify(ingest.counters())})`);
  const { store_errors } = ingest.counters();
  const nodeUs = (cpu.user + cpu.system) / stored;
  let pgS = 0;
  for (const [pid, s] of pg1) pgS += s - (pg0.get(pid) ?? 0);
  const pgUs = (pgS * 1e6) / stored;
  console.log(
    `ingest: ${stored} stored in ${seconds.toFixed(1)} s (${deviceKeys ? "signed" : "unsigned"}; ${store_errors} failed writes retried); CPU per result: node ${nodeUs.toFixed(0)} µs, PostgreSQL backends ${pgUs.toFixed(0)} µs; ${batches} batches of ${(inBatches / batches).toFixed(0)} on average; host reference ${reference.toFixed(1)} µs`,
  );
  if (store.rollup)
    console.log(
      `  of which the final catch-up pass: ${passed} results, PostgreSQL ${passUs.toFixed(0)} µs per stored result, ${passSeconds.toFixed(2)} s (timer every ${ROLLUP_MS ?? 1000} ms)`,
    );
  return { stored, seconds, rolledSeconds: seconds + passSeconds, nodeUs, pgUs };
}

/**
 * CPU seconds (user + system, /proc/<pid>/stat) of each PostgreSQL backend the collector's ingest pool
 * holds on `dbUrl`'s database, by pid: the server side of ingest (the bench runs on the database host).
 */
async function backendCpu(dbUrl: string): Promise<Map<number, number>> {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'qos-probe collector'",
    );
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the ")" of the command name: utime and stime are the 12th and 13th, in clock ticks.
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out.set(pid, (Number(f[11]) + Number(f[12])) / 100);
      } catch {
        // ended meanwhile
      }
    }
    return out;
  } finally {
    await db.end();
  }
}

/** GET `url` with curl (a separate process), the body discarded: HTTP status and body size. */
function download(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url], (err, out) => {
      if (err) return reject(err);
      const [status, bytes] = out.trim().split(" ").map(Number);
      resolve({ status: status ?? 0, bytes: bytes ?? 0 });
    });
  });
}

/** Run step 4 in a child process (`node --expose-gc` this script with BENCH_DB), its output shown. */
function reportsInChild(dbName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The parent's Node.js flags (package.json: --expose-gc and the collector's, collector/node-flags.ts).
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_DB: dbName, BENCH_REPORT_CHILD: "1" },
      stdio: "inherit",
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`report step exited with code ${code}`)),
    );
  });
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(0)} MB`;
}

async function main(): Promise<void> {
  const dbName = REUSE_DB ?? `qosprobe_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  if (!REUSE_DB) await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const store = openPostgresStore({ url: dbUrl.toString(), log: silentLogger() });
  const rows: string[][] = [["step", "figure"]];
  try {
    await store.migrate();
    if (!REUSE_DB) await fill(store, dbUrl.toString(), rows);
    if (INGEST_ONLY || !REUSE_DB) {
      console.log(table(rows));
      // Step 4 in a fresh process (this script again, on the database just filled): the RSS sampled is
      // a collector's serving reports, not this one's after holding 72,000 payloads and the fill.
      if (!INGEST_ONLY) await reportsInChild(dbName);
      return;
    }
    // 4. The monthly reports over HTTP, each on a cold cache, RSS sampled meanwhile.
    (globalThis as { gc?: () => void }).gc?.();
    const rssBefore = process.memoryUsage().rss;
    rows.push(["collector RSS before the reports", mb(rssBefore)]);
    for (const [format, path] of [
      ["html", "/"],
      ["csv", "/report.csv"],
      ["json", "/report.json"],
    ] as const) {
      const server = new ReportServer({
        store,
        log: silentLogger(),
        host: "127.0.0.1",
        port: 0,
        lang: "zh",
        period: "day",
        window_days: 31,
        sites: [],
        timezone: ZONE,
        coverage_floor: 0.9,
        counters: () => ({}),
        now: () => Date.parse("2026-12-05T00:00:00Z"),
      });
      const address = await server.start();
      let peak = process.memoryUsage().rss;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      const url = `http://127.0.0.1:${address.port}${path}?from=2026-11-01&to=2026-12-01&period=day`;
      const ts = performance.now();
      // The client is curl in a child process: the RSS sampled is the collector's (server) alone.
      const { status, bytes } = await download(url);
      const s = (performance.now() - ts) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      await server.stop();
      if (status !== 200) throw new Error(`${format}: HTTP ${status}`);
      const body = { byteLength: bytes };
      console.log(`${format}: ${s.toFixed(2)} s, ${mb(body.byteLength)}, peak RSS ${mb(peak)}`);
      rows.push([
        `monthly report ${format} (${isoInZone(MONTH_FROM, ZONE)} → ${isoInZone(MONTH_TO, ZONE)}, per day)`,
        `${s.toFixed(2)} s, ${(body.byteLength / 1_048_576).toFixed(1)} MB, peak RSS ${mb(peak)}`,
      ]);
      (globalThis as { gc?: () => void }).gc?.();
    }
    console.log(table(rows));
  } finally {
    await store.close().catch(() => {});
    if (REPORT_CHILD) {
      // the parent owns the database
    } else if (KEEP || REUSE_DB)
      console.log(`database kept: ${dbName} (BENCH_DB=${dbName} to time the reports again)`);
    else await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
