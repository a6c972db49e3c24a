import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/**
 * A private Mosquitto for one test file or benchmark: its own port on 127.0.0.1, its own config and persistence
 * directory, never the shared broker on 1883. `restart(downMs)` keeps the port and the persistence, so
 * sessions and queued messages survive like on a real broker restart.
 */
export interface PrivateMosquitto {
  port: number;
  url: string;
  /** Stop the broker (SIGTERM, it saves persistence) and remove its directory. */
  stop(): Promise<void>;
  /** SIGKILL the broker, as a crash would; `restart()` brings it back. */
  kill(): Promise<void>;
  /**
   * Graceful stop (when running), `downMs` of downtime, then start again on the same port. With
   * `wipe: true` the persistence file is deleted while the broker is down: a restart without persistence
   * (every session, subscription and queued message gone).
   */
  restart(downMs?: number, options?: { wipe?: boolean }): Promise<void>;
  /** Everything the broker printed, for failure messages. */
  output(): string;
}

const START_TIMEOUT_MS = 5_000;
const EXIT_TIMEOUT_MS = 5_000;

/** Brokers still running, killed synchronously if the test process exits without stopping them. */
const running = new Set<{ child: ChildProcess | null; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const broker of running) {
      if (broker.child?.exitCode === null) broker.child.kill("SIGKILL");
      rmSync(broker.dir, { recursive: true, force: true });
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface MosquittoOptions {
  /** Lines of an ACL file (anonymous clients), e.g. `topic readwrite allowed/#`; none means no ACL. */
  acl?: string[];
  /** Per-client queue bound (default 100,000, above any test's burst; Mosquitto's own default is 1000). */
  max_queued_messages?: number;
  /**
   * The whole configuration instead of the generated one (e.g. the production file with its paths moved
   * into `dir`). It must listen on 127.0.0.1:`port`, which is how readiness is detected.
   */
  config?: (where: { port: number; dir: string; dataDir: string }) => string;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<PrivateMosquitto> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "qosprobe-mosquitto-"));
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  // Started as root, mosquitto drops to the `mosquitto` user, which must be able to write persistence.
  if (userInfo().uid === 0) {
    const ids = await mosquittoUserIds();
    if (ids) {
      chownSync(dir, ids.uid, ids.gid);
      chownSync(dataDir, ids.uid, ids.gid);
    }
  }
  const port = await freePort();
  const configPath = join(dir, "mosquitto.conf");
  const aclPath = join(dir, "acl");
  if (options.acl) writeFileSync(aclPath, `${options.acl.join("\n")}\n`, { mode: 0o644 });
  const generated = () =>
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence true",
      `persistence_location ${dataDir}/`,
      "autosave_interval 1",
      // Defaults (1000 queued, 20 in flight) are smaller than some tests' bursts.
      `max_queued_messages ${options.max_queued_messages ?? 100_000}`,
      "log_dest stdout",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      ...(options.acl ? [`acl_file ${aclPath}`] : []),
      "",
    ].join("\n");
  writeFileSync(configPath, options.config ? options.config({ port, dir, dataDir }) : generated());

  const entry: { child: ChildProcess | null; dir: string } = { child: null, dir };
  running.add(entry);
  let output = "";

  const launch = async (): Promise<void> => {
    const child = spawn("mosquitto", ["-c", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    entry.child = child;
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const started = performance.now();
    while (performance.now() - started < START_TIMEOUT_MS) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${output}`);
      if (await accepts(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    throw new Error(`mosquitto did not accept on port ${port} within ${START_TIMEOUT_MS} ms:\n${output}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const child = entry.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await waitExit(child, EXIT_TIMEOUT_MS);
  };

  try {
    await launch();
  } catch (error) {
    running.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    output: () => output,
    kill: () => halt("SIGKILL"),
    restart: async (downMs = 0, restartOptions = {}) => {
      await halt("SIGTERM");
      // Mosquitto writes mosquitto.db on a clean exit, so the file is removed only after it stopped.
      if (restartOptions.wipe) rmSync(join(dataDir, "mosquitto.db"), { force: true });
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: async () => {
      await halt("SIGTERM");
      running.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** uid/gid of the `mosquitto` system user, or null when there is none. */
async function mosquittoUserIds(): Promise<{ uid: number; gid: number } | null> {
  const passwd = await readFile("/etc/passwd", "utf8").catch(() => "");
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === "mosquitto" && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}
