import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI } from "../../helpers/agent-process.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("demo shutdown", () => {
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
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000); // a bound, not a timing assertion
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    clearTimeout(timer);
    expect(code).toBe(0);
    const results = stdout.split("\n").filter((l) => l.includes(" seq "));
    expect(results.length).toBeGreaterThan(0); // the aborted intervals at the stop are published too
    expect(stdout).not.toContain("REFLECTOR_UNREACHABLE");
    expect(results.filter((l) => / FAULT /.test(l))).toEqual([]);
  }, 70_000);
});
