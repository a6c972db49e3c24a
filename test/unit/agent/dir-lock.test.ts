import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireDirLock } from "../../../agent/dir-lock.js";

const FILE = "test.lock";

describe("acquireDirLock", () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-lock-"));
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    child = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** A pid that certainly names no process: a child that has already exited (and been reaped). */
  async function deadPid(): Promise<number> {
    const p = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await once(p, "exit");
    return p.pid!;
  }

  it("writes our pid, leaves no temporary file, and removes the lock on release", async () => {
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}\n$`));
    expect(await readdir(dir)).toEqual([FILE]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a second holder in this process", async () => {
    await acquireDirLock(dir, FILE, { what: "test dir" });
    await expect(acquireDirLock(dir, FILE, { what: "test dir" })).rejects.toMatchObject({
      code: "STORE",
      message: `test dir ${dir} is already open by this process (lock file ${join(dir, FILE)})`,
    });
  });

  it("refuses while another live process holds it", async () => {
    child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    const pid = child.pid!;
    await writeFile(join(dir, FILE), `${pid}\n`);
    await expect(acquireDirLock(dir, FILE, { what: "test dir" })).rejects.toMatchObject({
      message: `test dir ${dir} is already open by process ${pid} (lock file ${join(dir, FILE)})`,
    });
  });

  it("takes over a lock left by a dead process or holding no pid", async () => {
    await writeFile(join(dir, FILE), `${await deadPid()}\n`);
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}\n$`));
    await lock.release();

    await writeFile(join(dir, FILE), "garbage");
    await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}\n$`));
  });

  it("takes over a lock with our own pid but a token we never issued (container restart)", async () => {
    // A restarted container's main process often gets the same pid as the one that died.
    await writeFile(join(dir, FILE), `${process.pid} 0123456789abcdef\n`);
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).not.toContain("0123456789abcdef");
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("does not remove a lock that another process took after ours", async () => {
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    await writeFile(join(dir, FILE), "12345\n");
    await lock.release();
    expect(await readFile(join(dir, FILE), "utf8")).toBe("12345\n");
  });
});
