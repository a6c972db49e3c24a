import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { rejectDscp } from "../../../agent/probe/tcp.js";
import { CLI } from "../../helpers/agent-process.js";
import { runCli } from "../../helpers/cli-run.js";

/** The compiled CLI as an operator runs it: exit codes, --json errors, unit suffixes, 0 = off. */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
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
    // A bound, not a timing assertion: a CLI that hangs fails here instead of hanging the suite.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `qos-probe ${args.join(" ")} still running after ${opts.timeoutMs ?? 20_000} ms:\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("qos-probe CLI papercuts (issue 10)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("test stamp://127.0.0.1:0 is a usage error: exit 2, a JSON error with --json, no stack trace", async () => {
    const json = await cli(["test", "stamp://127.0.0.1:0", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: "PROBE_TARGET",
        message: 'port 0 in "stamp://127.0.0.1:0" is not a port a probe can send to',
        hint: "give the port the target listens on, e.g. stamp://127.0.0.1:862",
      },
    });
    const plain = await cli(["test", "stamp://127.0.0.1:0"]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).not.toMatch(/RangeError|at /);
  });

  it("usage errors from flag parsing exit 2 (help says so), also with --json", async () => {
    const bad = await cli(["test", "stamp://127.0.0.1:9", "-c", "abc", "--json"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`argument 'abc' is invalid`);
    expect(JSON.parse(bad.stdout).error.code).toBe("USAGE");
    expect((await cli(["no-such-command"])).code).toBe(2);
    expect((await cli(["--version"])).code).toBe(0);
  });

  it("accepts bracketed IPv6 and unit suffixes on interval and timeout", async () => {
    const r = await cli(["test", "icmp://[::1]", "-c", "3", "-i", "200ms", "--timeout", "1s", "--json"]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.test).toMatchObject({ target: "icmp://[::1]", rate_pps: 5 });
    expect(result.packets).toMatchObject({ sent: 3, received: 3 });
  });

  /** Starts `qos-probe reflect` with `args`; resolves with the child and its output once it listens. */
  async function startReflect(
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<{ child: ChildProcess; output: () => string }> {
    const child: ChildProcess = spawn(process.execPath, [CLI, "reflect", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    });
    let out = "";
    child.stdout?.on("data", (c) => {
      out += c;
    });
    child.stderr?.on("data", (c) => {
      out += c;
    });
    const end = Date.now() + 15_000;
    while (!out.includes("STAMP reflector listening") && child.exitCode === null && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { child, output: () => out };
  }

  it("reflect takes --stats-interval 0 (never) and --rate-limit 0 (no limit)", async () => {
    const { child, output } = await startReflect([
      "-l",
      "127.0.0.1:0",
      "--stats-interval",
      "0",
      "--rate-limit",
      "0",
    ]);
    expect(output()).toContain("STAMP reflector listening on 127.0.0.1:");
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    expect((await exited)[0]).toBe(0);
  });

  it("reflect --thread worker runs its loop in a worker, says so, answers, and stops on SIGINT", async () => {
    const { child, output } = await startReflect(["-l", "127.0.0.1:0", "--thread", "worker"]);
    const listening = JSON.parse(
      output()
        .split("\n")
        .find((l) => l.includes("STAMP reflector listening")) ?? "{}",
    ) as { port?: number; thread?: string; timestamps?: string; receive_buffer_bytes?: number; msg?: string };
    const port = listening.port;
    expect(port).toBeGreaterThan(0);
    expect(listening.thread).toBe("worker");
    expect(listening.msg).toContain(`packet loop on the worker thread`);
    expect(listening.msg).toContain(`(${listening.timestamps} timestamps`);
    expect(listening.receive_buffer_bytes).toBeGreaterThan(0);

    const r = await cli(["test", `stamp://127.0.0.1:${port}`, "-c", "20", "--interval", "10ms", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).packets).toMatchObject({ sent: 20, received: 20 });

    const exited = once(child, "exit");
    child.kill("SIGINT");
    expect((await exited)[0]).toBe(0);
    const stopping = JSON.parse(
      output()
        .split("\n")
        .find((l) => l.includes("reflector stopping")) ?? "{}",
    ) as { counters?: { received: number; reflected: number } };
    // The 20 requests plus the sender's first, and every one answered.
    expect(stopping.counters?.reflected).toBe(stopping.counters?.received);
    expect(stopping.counters?.received).toBeGreaterThanOrEqual(20);
  });

  it("reflect stopped by two signals at once still logs its counters and exits 0", async () => {
    // `timeout` forwards its signal to the child and to the child's group: two at once.
    const { child, output } = await startReflect(["-l", "127.0.0.1:0", "--stats-interval", "0"]);
    expect(output()).toContain("STAMP reflector listening");
    const exited = once(child, "exit");
    child.kill("SIGINT");
    child.kill("SIGINT");
    child.kill("SIGTERM");
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output().match(/"msg":"reflector stopping"/g)).toHaveLength(1);
  });

  it("reflect --thread worker on user timestamps says it runs on the main thread instead", async () => {
    const { child, output } = await startReflect(["-l", "127.0.0.1:0", "--thread", "worker"], {
      ...process.env,
      QOSPROBE_TIMESTAMPS: "user",
    });
    const lines = output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string; thread?: string; thread_asked?: string });
    expect(lines.find((l) => l.thread_asked === "worker")).toMatchObject({ level: 40, thread: "main" });
    expect(lines.find((l) => l.msg.startsWith("STAMP reflector listening"))?.thread).toBe("main");
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    expect((await exited)[0]).toBe(0);
  });

  it("reflect refuses a --thread it does not know, as a usage error", async () => {
    const r = await cli(["reflect", "-l", "127.0.0.1:0", "--thread", "both"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--thread.*both.*main, worker|Allowed choices are main, worker/);
  });

  it("a demo whose report port is taken exits non-zero with nothing left running", async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
    const port = (squatter.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-demo-"));
    cleanups.push(async () => {
      squatter.close();
      await rm(dir, { recursive: true, force: true });
    });
    // Exiting at all proves no MQTT client, timer or socket was left running in the process.
    const r = await cli(["demo", "--port", String(port), "--data-dir", dir, "--seconds", "5m"], {
      timeoutMs: 30_000,
    });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain(`report server cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });

  it("collector with a broker secret unset or a TLS file missing: exit non-zero naming it, and no store or client id written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "qp-secret-"));
    try {
      const yaml = readFileSync("config/collector.example.yaml", "utf8")
        .replace("data_dir: /var/lib/qos-probe-collector/pglite", `data_dir: ${join(dir, "pglite")}`)
        .replace("data_dir: /var/lib/qos-probe-collector\n", `data_dir: ${join(dir, "state")}\n`)
        .replace(
          "sites_from: agent.example.yaml",
          `sites_from: ${join(process.cwd(), "config/agent.example.yaml")}`,
        );
      expect(yaml).not.toContain("/var/lib/");
      await writeFile(join(dir, "collector.yaml"), yaml);
      const env = { ...process.env };
      delete env.QOSPROBE_MQTT_USER;
      const unset = await runCli(["collector", "--config", join(dir, "collector.yaml")], { env });
      expect(unset.code).not.toBe(0);
      expect(unset.stderr).toContain("secret environment variable QOSPROBE_MQTT_USER is not set");
      expect(unset.stderr).toContain("in the environment qos-probe runs in");
      // Credentials there (a password file of ours), the CA file missing.
      await writeFile(join(dir, "mqtt-password"), "pw\n");
      await writeFile(
        join(dir, "collector.yaml"),
        yaml.replace("/etc/qos-probe/mqtt-password", join(dir, "mqtt-password")),
      );
      const noCa = await runCli(["collector", "--config", join(dir, "collector.yaml")], {
        env: { ...env, QOSPROBE_MQTT_USER: "c1" },
      });
      expect(noCa.code).not.toBe(0);
      expect(noCa.stderr).toContain("mqtt.tls.ca_file: cannot read /etc/qos-probe/ca.pem (ENOENT)");
      expect((await readdir(dir)).sort()).toEqual(["collector.yaml", "mqtt-password"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the TCP DSCP refusal points to methods that mark packets: STAMP on the kernel socket, or icmp", () => {
    expect(() => rejectDscp({ dscp: 46 }, "tcp")).toThrow(
      expect.objectContaining({
        hint: "set dscp: 0 for tcp tests; measure a marked class with stamp (Linux, kernel socket) or icmp",
      }),
    );
  });
});
