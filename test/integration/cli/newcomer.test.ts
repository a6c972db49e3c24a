import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { Reflector } from "../../../agent/probe/stamp/reflector.js";
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

  it("a QOSPROBE_TIMESTAMPS value that is neither mode is refused (exit 2), not run as kernel mode", async () => {
    const r = await runCli(["test", "stamp://127.0.0.1:9", "-c", "1"], {
      env: { ...process.env, QOSPROBE_TIMESTAMPS: "kernal" },
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("qos-probe: QOSPROBE_TIMESTAMPS=kernal is not a timestamp mode");
    expect(r.stderr).toContain("hint: use kernel");
    for (const mode of ["kernel", "user", ""]) {
      const ok = await runCli(["--version"], { env: { ...process.env, QOSPROBE_TIMESTAMPS: mode } });
      expect(ok.code, mode).toBe(0);
    }
  });

  it("reflect with a key file but open mode (or a mode without a key) is a usage error naming the flags", async () => {
    const dir = await tempDir();
    const key = join(dir, "k.hex");
    await writeFile(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", {
      mode: 0o600,
    });
    // Port 0: without the check the reflector would bind and run until runCli's bound fails the test.
    for (const extra of [[], ["--auth-mode", "open"]]) {
      const r = await runCli(["reflect", "-l", "127.0.0.1:0", "--auth-key-file", key, ...extra]);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.stderr).toContain(
        `--auth-key-file ${key} is given but --auth-mode is open: the key would be ignored`,
      );
      expect(r.stderr).toContain("hint: add --auth-mode both");
    }
    for (const mode of ["authenticated", "both"]) {
      const r = await runCli(["reflect", "-l", "127.0.0.1:0", "--auth-mode", mode]);
      expect(r.code, mode).toBe(2);
      expect(r.stderr).toContain(`--auth-mode ${mode} needs the shared HMAC key`);
      expect(r.stderr).toContain("hint: add --auth-key-file FILE");
    }
  });

  it("Ctrl-C during a test prints what was measured, flagged aborted, and exits 130", async () => {
    const reflector = new Reflector({
      host: "127.0.0.1",
      port: 0,
      clockSync: { synced: false, source: "unknown" },
      rateLimitPps: 0,
    });
    await reflector.start();
    cleanups.push(() => reflector.stop());
    const child = spawn(
      process.execPath,
      [CLI, "test", `stamp://127.0.0.1:${reflector.address().port}`, "-c", "100000", "-i", "10ms", "--json"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    let stdout = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // Interrupt once the reflector has answered a few packets (bounded: 20 s).
    for (let i = 0; i < 200 && reflector.counters.reflected < 5; i++) await sleep(100);
    expect(reflector.counters.reflected).toBeGreaterThanOrEqual(5);
    child.kill("SIGINT");
    const code = await Promise.race([exited, sleep(20_000).then(() => "still running")]);
    expect(code).toBe(130);
    const result = JSON.parse(stdout);
    expect(result.quality.flags).toContain("aborted");
    expect(result.packets.sent).toBeGreaterThanOrEqual(5);
    expect(result.packets.sent).toBeLessThan(100_000);
    expect(result.packets.lost).toBe(0);
  });

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
        `qos-probe: ${command} reads the collector's store: there is no PGlite database in ${missing} (--data-dir)`,
      );
      expect(r.stderr).not.toContain("qos-probe: qos-probe");
      expect(existsSync(missing)).toBe(false);
    }
  });

  it("a store that cannot be reached says what to fix: no such database, no user, nothing listening", async () => {
    const cases = [
      ["postgres://postgres@127.0.0.1:5432/qos_probe_no_such_db", "createdb"],
      ["postgres://127.0.0.1:5432/test", "postgres://USER@HOST/DB"],
      ["postgres://postgres@127.0.0.1:1/test", "is PostgreSQL running"],
    ] as const;
    for (const [url, hint] of cases) {
      const r = await runCli(
        ["report", "--from", "2026-11-01", "--to", "2026-12-01", "--database-url", url],
        {
          env: { ...process.env, USER: "", PGUSER: "" },
        },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("qos-probe: store: read schema version failed");
      expect(r.stderr).toContain(`hint: `);
      expect(r.stderr).toContain(hint);
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
});
