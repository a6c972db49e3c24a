import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_PGLITE_DIR } from "../../../collector/report-role.js";
import { CLI } from "../../helpers/agent-process.js";
import { runCli } from "../../helpers/cli-run.js";

/** A newcomer's review of the CLI, each finding run through the compiled CLI. */

describe("qos-probe CLI, newcomer findings", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-newcomer-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it("report without a store creates nothing: exit 2, names the store it looked for and the flags", async () => {
    expect(
      existsSync(DEFAULT_PGLITE_DIR),
      `this test needs no collector store at ${DEFAULT_PGLITE_DIR}`,
    ).toBe(false);
    const r = await runCli(["report", "--from", "2026-11-01", "--to", "2026-12-01", "--format", "csv"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`there is no PGlite database in ${DEFAULT_PGLITE_DIR}`);
    expect(r.stderr).toContain("neither --config, --database-url nor --data-dir was given");
    expect(r.stderr).toContain("hint: point at the collector's store: --config collector.yaml");
    expect(existsSync(DEFAULT_PGLITE_DIR)).toBe(false);
    expect(existsSync("/var/lib/qos-probe-collector")).toBe(false);
  });

  it("report and gaps on a --data-dir that holds no database leave it as it was", async () => {
    const missing = join(await tempDir(), "no-such-store");
    for (const command of ["report", "gaps"]) {
      const args =
        command === "report"
          ? ["report", "--from", "2026-11-01", "--to", "2026-12-01", "--data-dir", missing]
          : ["gaps", "--data-dir", missing];
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `qos-probe ${command} reads the collector's store: there is no PGlite database in ${missing} (--data-dir)`,
      );
      expect(existsSync(missing)).toBe(false);
    }
  });

  it("an address literal that contradicts --family is a usage error naming both, for every method", async () => {
    const cases = [
      ["stamp://127.0.0.1:9", "6", "127.0.0.1 is an IPv4 address"],
      ["icmp://127.0.0.1", "6", "127.0.0.1 is an IPv4 address"],
      ["tcp://[::1]:9", "4", "::1 is an IPv6 address"],
    ] as const;
    for (const [target, family, what] of cases) {
      const r = await runCli(["test", target, "--family", family, "-c", "1", "--json"]);
      expect(r.code, target).toBe(2);
      expect(JSON.parse(r.stdout)).toEqual({
        error: {
          code: "USAGE",
          message: `--family ${family} contradicts the target ${target}: ${what}`,
          hint: `drop --family, or give an IPv${family} address or a host name that resolves to one`,
        },
      });
    }
  });

  it("a failed one-shot prints one human line with the fix, no log JSON or stack; --json keeps the result", async () => {
    // A loopback port nobody listens on: ECONNREFUSED at once (TCP), ICMP port unreachable (STAMP).
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", () => r()));
    const port = (free.address() as AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));

    const tcp = await runCli(["test", `tcp://127.0.0.1:${port}`, "-c", "1"]);
    expect(tcp.code).toBe(1);
    expect(tcp.stdout).toBe("");
    expect(tcp.stderr).toBe(
      `qos-probe: tcp://127.0.0.1:${port}: TARGET_REFUSED: connect ECONNREFUSED 127.0.0.1:${port} — fix: nothing accepts connections there: check the address and port, and that the service runs\n`,
    );

    const stamp = await runCli([
      "test",
      `stamp://127.0.0.1:${port}`,
      "-c",
      "2",
      "-i",
      "20ms",
      "--timeout",
      "300ms",
      "--json",
    ]);
    expect(stamp.code).toBe(1);
    expect(stamp.stderr.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^qos-probe: stamp://127\\.0\\.0\\.1:${port}: REFLECTOR_UNREACHABLE: .*nothing listens there — fix: check that the peer's reflector runs`,
        ),
      ),
    ]);
    const result = JSON.parse(stamp.stdout);
    expect(result.status).toBe("fault");
    expect(result.error.code).toBe("REFLECTOR_UNREACHABLE");
  });

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
