import { randomBytes } from "node:crypto";
import { link, readFile, rm, writeFile } from "node:fs/promises";
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
 * Lock files this process holds, by path → token. A container restarts its main process with the
 * same pid, so a pid alone cannot tell our own lock from a dead predecessor's: the random token can.
 */
const held = new Map<string, string>();

/**
 * Take an exclusive lock on `dir` with a file holding our pid and a random token. The file is written
 * under a temporary name and hard-linked into place, so it appears atomically and complete: a lock
 * whose pid is not alive (or is ours but with a token we never issued) is stale and is taken over.
 * Advisory only: it guards against a second qos-probe, not against other programs.
 */
export async function acquireDirLock(dir: string, fileName: string, opts: DirLockOptions): Promise<DirLock> {
  const path = join(dir, fileName);
  const token = randomBytes(8).toString("hex");
  const tmp = join(dir, `.${fileName}.${process.pid}.${token}`);
  await writeFile(tmp, `${process.pid} ${token}\n`);
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
      if (holder && isLive(holder, path)) throw inUse(opts, dir, path, holder.pid);
      await rm(path, { force: true });
    }
    // Another process took the stale lock between our removal and our retry.
    throw inUse(opts, dir, path, (await readLock(path))?.pid ?? null);
  } finally {
    await rm(tmp, { force: true });
  }
}

function isLive(holder: { pid: number; token: string | null }, path: string): boolean {
  if (holder.pid === process.pid) return held.get(path) === holder.token;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
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

async function readLock(path: string): Promise<{ pid: number; token: string | null } | null> {
  try {
    const [pidText, token] = (await readFile(path, "utf8")).trim().split(/\s+/);
    const pid = Number.parseInt(pidText ?? "", 10);
    return Number.isInteger(pid) && pid > 0 ? { pid, token: token ?? null } : null;
  } catch {
    return null;
  }
}

async function releaseIfOurs(path: string, token: string): Promise<void> {
  const holder = await readLock(path);
  if (holder?.pid === process.pid && holder.token === token) await rm(path, { force: true });
  if (held.get(path) === token) held.delete(path);
}
