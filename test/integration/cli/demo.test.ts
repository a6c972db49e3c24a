import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CLI } from "../../helpers/agent-process.js";

/**
 * The demo (`npm start`) run for real. Every demo binds the reflector ports of config/demo.yaml
 * (127.0.0.1:8620–8622), so all demo runs live in this one file: vitest runs a file's tests one after
 * another, files in parallel.
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "qosprobe-demo-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("the demo", () => {
  it("starts every reflector before any test and stops every test before any reflector: no fault of its own making", async () => {
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-demo-stop-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    // 14 s: the stop falls inside the second 10-second interval, while every peer test is sending.
    const child = spawn(
      process.execPath,
      [CLI, "demo", "--port", String(port), "--data-dir", dir, "--seconds", "14"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000); // a bound, not a timing assertion
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    clearTimeout(timer);
    expect(code, stderr).toBe(0);
    const results = stdout.split("\n").filter((l) => l.includes(" seq "));
    expect(results.length).toBeGreaterThan(0); // the aborted intervals at the stop are published too
    expect(stdout).not.toContain("REFLECTOR_UNREACHABLE");
    expect(results.filter((l) => / FAULT /.test(l))).toEqual([]);
  }, 70_000);

  it("the demo says what it is starting, when each first interval ends, and a report URL from its own start", async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, [CLI, "demo", "--port", "0", "--data-dir", dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    const seen = async (text: string, ms: number) => {
      const end = Date.now() + ms;
      while (!out.includes(text) && child.exitCode === null && Date.now() < end) await delay(50);
      expect(out, `waiting for "${text}"`).toContain(text);
    };
    // The first line comes at once, before the database (the slow part) is opened.
    await seen("qos-probe demo: starting in", 10_000);
    await seen("Ctrl-C stops everything.", 120_000);
    const lines = out.split("\n");
    const order = [
      "qos-probe demo: starting",
      "  broker ",
      "  database ",
      "  collector ",
      "  agent ",
      "  tests ",
    ];
    const at = order.map((p) => lines.findIndex((l) => l.startsWith(p)));
    expect(
      at.every((i, n) => i >= 0 && (n === 0 || i > (at[n - 1] ?? -1))),
      out,
    ).toBe(true);
    expect(out).toMatch(
      / {2}database {4}creating PGlite in .*\(first run: up to a minute on a small machine\)…/,
    );
    expect(lines.filter((l) => l.startsWith("  agent ")).map((l) => l.replace(/ {2}\[.*$/, ""))).toEqual(
      ["bj-demo-01", "gz-demo-01", "cd-demo-01"].map(
        (site) => `  agent       ${site} started: its reflector (its tests start once every reflector is up)`,
      ),
    );
    const tests = lines.find((l) => l.startsWith("  tests ")) ?? "";
    const m = /started on 3 sites; the first 10 s interval ends at (\d\d):(\d\d):(\d\d) UTC/.exec(tests);
    expect(m, tests).not.toBeNull();
    expect(Number(m?.[3]) % 10).toBe(0);
    // The report link starts at the demo's first 5-minute window, so coverage counts the demo's windows only.
    const link = /report {6}(http:\/\/127\.0\.0\.1:\d+\/\?from=(\S+))/.exec(out);
    expect(link).not.toBeNull();
    const from = Date.parse(link?.[2] ?? "");
    expect(from % 300_000).toBe(0);
    expect(Date.now() - from).toBeLessThan(300_000 + 180_000);
    const json = (await (await fetch(link?.[1]?.replace("/?", "/report.json?") ?? "")).json()) as {
      period: { from_ms: number };
      operators: { coverage: { expected: number } }[];
    };
    expect(json.period.from_ms).toBe(from);
    // At most the windows that ended since `from` (a minute or two), 4 tests each — not a day's 1152.
    for (const op of json.operators) expect(op.coverage.expected).toBeLessThanOrEqual(4 * 2);
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    expect((await exited)[0]).toBe(0);
  }, 180_000);
});
