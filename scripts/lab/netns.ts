import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A two-host lab in network namespaces joined by a veth pair, with documentation addresses
 * (RFC 5737 198.51.100.0/24) only. Used by tests and benchmarks to put a real, impairable link between a
 * sender and a reflector without touching the machine's own network. Needs root (CAP_NET_ADMIN).
 */
export interface Lab {
  /** Namespace names, e.g. "qp1a2b-a". */
  a: string;
  b: string;
  addrA: string;
  addrB: string;
  /** Run a command inside a namespace and wait for it. */
  exec(ns: string, argv: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Start a long-running command inside a namespace; killed by destroy(). */
  spawn(ns: string, argv: string[]): ChildProcess;
  /** Remove the namespaces and every process the lab started. Safe to call twice. */
  destroy(): Promise<void>;
}

export const LAB_ADDR_A = "198.51.100.1";
export const LAB_ADDR_B = "198.51.100.2";

export async function canCreateNamespaces(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await run("ip", ["-V"]);
    return true;
  } catch {
    return false;
  }
}

export async function createLab(): Promise<Lab> {
  const id = randomBytes(3).toString("hex");
  const a = `qp${id}-a`;
  const b = `qp${id}-b`;
  const children = new Set<ChildProcess>();
  let destroyed = false;

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const child of children) child.kill("SIGKILL");
    // Deleting a namespace deletes its end of the veth, which deletes the peer too.
    for (const ns of [a, b]) await run("ip", ["netns", "del", ns]).catch(() => undefined);
  };

  try {
    await run("ip", ["netns", "add", a]);
    await run("ip", ["netns", "add", b]);
    await run("ip", [
      "link",
      "add",
      `v${id}a`,
      "netns",
      a,
      "type",
      "veth",
      "peer",
      "name",
      `v${id}b`,
      "netns",
      b,
    ]);
    for (const [ns, dev, addr] of [
      [a, `v${id}a`, LAB_ADDR_A],
      [b, `v${id}b`, LAB_ADDR_B],
    ] as const) {
      await run("ip", ["-n", ns, "addr", "add", `${addr}/24`, "dev", dev]);
      await run("ip", ["-n", ns, "link", "set", dev, "up"]);
      await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    a,
    b,
    addrA: LAB_ADDR_A,
    addrB: LAB_ADDR_B,
    exec: (ns, argv) => run("ip", ["netns", "exec", ns, ...argv], { maxBuffer: 64 * 1024 * 1024 }),
    spawn: (ns, argv) => {
      const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      child.on("exit", () => children.delete(child));
      return child;
    },
    destroy,
  };
}

/** Resolve once `child` has printed a line matching `pattern` on stdout or stderr. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output so far:\n${seen}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        cleanup();
        resolve(seen);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before printing ${pattern}; output:\n${seen}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}
