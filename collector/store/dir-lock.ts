import { randomBytes } from "node:crypto";
import { link, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { QosProbeError } from "../../agent/errors.js";

export interface DirLock {
  /** Remove the lock file if it is still ours. */
  release(): Promise<void>;
}

/**
 * Take an exclusive lock on `dir` with a file holding our pid. The file is written under a temporary
 * name and hard-linked into place, so it appears atomically and always with its pid: a lock file that
 * exists but names no live process is stale (its owner died) and is taken over. Advisory only: it
 * guards against a second qos-probe, not against other programs.
 */
export async function acquireDirLock(dir: string, fileName: string, what: string): Promise<DirLock> {
  const path = join(dir, fileName);
  const tmp = join(dir, `.${fileName}.${process.pid}.${randomBytes(4).toString("hex")}`);
  await writeFile(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await link(tmp, path);
        return { release: () => releaseIfOurs(path) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = await readPid(path);
      if (holder !== null && isAlive(holder)) throw inUse(what, dir, path, holder);
      await rm(path, { force: true });
    }
    // Another process took the stale lock between our removal and our retry.
    throw inUse(what, dir, path, await readPid(path));
  } finally {
    await rm(tmp, { force: true });
  }
}

function inUse(what: string, dir: string, path: string, pid: number | null): QosProbeError {
  const by = pid === null ? "another process" : pid === process.pid ? "this process" : `process ${pid}`;
  return new QosProbeError("STORE", `${what} ${dir} is already open by ${by} (lock file ${path})`, {
    hint: "run one collector per PGlite directory, or use PostgreSQL for several; delete the lock file only if no collector is running",
  });
}

async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function releaseIfOurs(path: string): Promise<void> {
  if ((await readPid(path)) === process.pid) await rm(path, { force: true });
}
