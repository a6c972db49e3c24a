import { randomBytes } from "node:crypto";
import { link, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ErrorCode, QosProbeError } from "./errors.js";

export interface DirLock {
  /** Remove the lock file if it is still ours. */
  release(): Promise<void>;
}

export interface DirLockOptions {
  /** What is being locked, for the error: "PGlite data directory", "agent outbox". */
  what: string;
  code?: ErrorCode;
  hint?: string;
}

/**
 * Lock files this process holds, by path → token. A second acquire of the same directory inside one
 * process is refused (two stores on one PGlite directory would corrupt it), and the token tells our
 * own lock from one a dead predecessor with the same pid left behind.
 */
const held = new Map<string, string>();

/**
 * Who wrote a lock file. A pid alone cannot say whether its writer still lives: after a power cut the
 * pids are handed out again (pid 1 always exists), so the old rule "the pid is alive" refused to start
 * for ever under systemd's Restart=always. A process is named uniquely by (boot id, pid, start time):
 * the kernel's random boot id changes on every boot (/proc/sys/kernel/random/boot_id) and the start
 * time (/proc/<pid>/stat field 22, clock ticks since boot) differs for a reused pid.
 *
 * Why not flock/OFD locks through koffi: the kernel would release them with the holder, but koffi is
 * an optional FFI that may be absent (its prebuilt binary missing for a platform), and the lock must
 * work everywhere the agent runs. /proc is always there on Linux; off Linux (development on macOS) we
 * fall back to the pid check.
 */
interface Holder {
  pid: number;
  token: string | null;
  /** Absent in lock files written by qos-probe before 0.1 kept them (pid and token only). */
  boot_id?: string;
  start_ticks?: string;
}

/** Where /proc lives; injectable so tests can read a fake process table. */
export interface ProcFs {
  bootId(): Promise<string | undefined>;
  /** /proc/<pid>/stat field 22 (starttime, clock ticks since boot), or undefined when no such process. */
  startTicks(pid: number): Promise<string | undefined>;
  /** Seconds since the epoch at which the system booted (/proc/stat btime). */
  bootTime(): Promise<number | undefined>;
}

export const linuxProc: ProcFs = {
  async bootId() {
    return (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim() || undefined;
  },
  async startTicks(pid) {
    const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    return text === undefined ? undefined : statStartTicks(text);
  },
  async bootTime() {
    const text = await readFile("/proc/stat", "utf8").catch(() => "");
    const m = /^btime (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  },
};

/**
 * Field 22 (starttime) of a /proc/<pid>/stat line. The command name (field 2) is in parentheses and
 * may itself hold spaces and parentheses, so fields are counted after the last ")".
 */
export function statStartTicks(stat: string): string | undefined {
  const rest = stat
    .slice(stat.lastIndexOf(")") + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const v = rest[19];
  return v !== undefined && /^\d+$/.test(v) ? v : undefined;
}

/** Linux USER_HZ: /proc times are in these ticks on every architecture the agent runs on. */
const CLK_TCK = 100;

/**
 * Take an exclusive lock on `dir` with a file naming this process (pid, random token, boot id, start
 * time). The file is written under a temporary name and hard-linked into place, so it appears
 * atomically and complete. A lock whose writer is not running any more — another boot, a pid now
 * used by a process with another start time, a dead pid — is stale and is taken over.
 * Advisory only: it guards against a second qos-probe, not against other programs.
 */
export async function acquireDirLock(
  dir: string,
  fileName: string,
  opts: DirLockOptions,
  proc: ProcFs = linuxProc,
): Promise<DirLock> {
  const path = join(dir, fileName);
  const token = randomBytes(8).toString("hex");
  const tmp = join(dir, `.${fileName}.${process.pid}.${token}`);
  const bootId = await proc.bootId();
  const ticks = await proc.startTicks(process.pid);
  const identity = bootId && ticks ? ` ${bootId} ${ticks}` : "";
  await writeFile(tmp, `${process.pid} ${token}${identity}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await link(tmp, path);
        held.set(path, token);
        return { release: () => releaseIfOurs(path, token) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = await readLock(path);
      if (holder && (await isLive(holder, path, proc))) throw inUse(opts, dir, path, holder.pid);
      await rm(path, { force: true });
    }
    // Another process took the stale lock between our removal and our retry.
    throw inUse(opts, dir, path, (await readLock(path))?.pid ?? null);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function isLive(holder: Holder, path: string, proc: ProcFs): Promise<boolean> {
  // Our own pid: live only if this process issued the token (a restarted container reuses the pid).
  if (holder.pid === process.pid) return held.get(path) === holder.token;
  if (holder.boot_id !== undefined && holder.start_ticks !== undefined) {
    const bootId = await proc.bootId();
    if (bootId !== undefined) {
      if (holder.boot_id !== bootId) return false; // written before a reboot
      return (await proc.startTicks(holder.pid)) === holder.start_ticks;
    }
  }
  if (!pidExists(holder.pid)) return false;
  // A lock without the writer's start time (an older qos-probe, or no /proc): a process that started
  // after the lock file was written cannot be its writer — pid 1 after a power cut, for one.
  const started = await startedAtMs(holder.pid, proc);
  if (started === undefined) return true;
  const written = (await stat(path).catch(() => undefined))?.mtimeMs;
  return written === undefined || started <= written + 1_000;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function startedAtMs(pid: number, proc: ProcFs): Promise<number | undefined> {
  const [btime, ticks] = [await proc.bootTime(), await proc.startTicks(pid)];
  if (btime === undefined || ticks === undefined) return undefined;
  return btime * 1000 + (Number(ticks) / CLK_TCK) * 1000;
}

function inUse(opts: DirLockOptions, dir: string, path: string, pid: number | null): QosProbeError {
  const by = pid === null ? "another process" : pid === process.pid ? "this process" : `process ${pid}`;
  return new QosProbeError(
    opts.code ?? "STORE",
    `${opts.what} ${dir} is already open by ${by} (lock file ${path})`,
    {
      hint: opts.hint ?? "run one process per directory; delete the lock file only if none is running",
    },
  );
}

async function readLock(path: string): Promise<Holder | null> {
  try {
    const [pidText, token, bootId, ticks] = (await readFile(path, "utf8")).trim().split(/\s+/);
    const pid = Number.parseInt(pidText ?? "", 10);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    return {
      pid,
      token: token ?? null,
      ...(bootId && ticks ? { boot_id: bootId, start_ticks: ticks } : {}),
    };
  } catch {
    return null;
  }
}

async function releaseIfOurs(path: string, token: string): Promise<void> {
  const holder = await readLock(path);
  if (holder?.pid === process.pid && holder.token === token) await rm(path, { force: true });
  if (held.get(path) === token) held.delete(path);
}
