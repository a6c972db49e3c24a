import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePingOutput } from "../../agent/probe/icmp-parse.js";
import type { ResultMessage } from "../../agent/publish/message.js";
import { CLI, freePort, median, run, startProcess, table, which } from "./common.js";

/**
 * bench:rtt — the same count and interval on loopback, one tool after another in one run: system ping,
 * qos-probe STAMP (sender and reflector as separate processes, as deployed) and irtt when installed.
 * Prints each tool's median RTT and its overhead over ping: what our user-space timestamps add.
 */
const COUNT = Number(process.env.BENCH_COUNT ?? 500);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 10);

async function pingMedian(): Promise<number | null> {
  const { stdout } = await run(
    "ping",
    ["-n", "-c", String(COUNT), "-i", String(INTERVAL_MS / 1000), "127.0.0.1"],
    {
      maxBuffer: 64 << 20,
    },
  );
  const rtts = parsePingOutput(stdout)
    .replies.filter((r) => !r.dup && r.rtt_ms !== null)
    .map((r) => r.rtt_ms as number);
  return median(rtts);
}

async function stampMedian(): Promise<number | null> {
  const port = await freePort();
  const reflector = await startProcess(
    process.execPath,
    [CLI, "reflect", "--listen", `127.0.0.1:${port}`, "--rate-limit", "100000"],
    /listening/,
  );
  try {
    const { stdout } = await run(
      process.execPath,
      [
        CLI,
        "test",
        `stamp://127.0.0.1:${port}`,
        "-c",
        String(COUNT),
        "-i",
        String(INTERVAL_MS),
        "--json",
        "--no-progress",
      ],
      { maxBuffer: 64 << 20 },
    );
    return (JSON.parse(stdout) as ResultMessage).rtt_ms.median;
  } finally {
    reflector.kill("SIGTERM");
  }
}

async function irttMedian(): Promise<number | null> {
  const port = await freePort();
  const server = await startProcess("irtt", ["server", "-b", `127.0.0.1:${port}`], /ListenerStart/).catch(
    async () => {
      throw new Error("irtt server did not start");
    },
  );
  const out = join(tmpdir(), `qosprobe-irtt-${process.pid}.json`);
  try {
    await run("irtt", [
      "client",
      "-Q",
      "-i",
      `${INTERVAL_MS}ms`,
      "-d",
      `${COUNT * INTERVAL_MS}ms`,
      "-o",
      out,
      `127.0.0.1:${port}`,
    ]);
    const data = JSON.parse(await readFile(out, "utf8")) as { stats: { rtt: { median?: number } } };
    return data.stats.rtt.median === undefined ? null : data.stats.rtt.median / 1e6; // ns → ms
  } finally {
    server.kill("SIGTERM");
    await rm(out, { force: true });
  }
}

async function main(): Promise<void> {
  console.log(`bench:rtt  loopback, ${COUNT} packets at ${INTERVAL_MS} ms per tool, medians in ms\n`);
  const ping = await pingMedian();
  const rows: string[][] = [["tool", "median RTT ms", "overhead over ping ms"]];
  const add = (name: string, m: number | null) =>
    rows.push([
      name,
      m === null ? "–" : m.toFixed(4),
      m === null || ping === null ? "–" : name === "ping" ? "0" : (m - ping).toFixed(4),
    ]);
  add("ping", ping);
  add("qos-probe stamp", await stampMedian());
  if (await which("irtt")) add("irtt", await irttMedian());
  else rows.push(["irtt", "not installed", "–"]);
  console.log(table(rows));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
