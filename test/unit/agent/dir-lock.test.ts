import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireDirLock, linuxProc, statStartTicks } from "../../../agent/dir-lock.js";

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

  const bootId = () => readFile("/proc/sys/kernel/random/boot_id", "utf8").then((s) => s.trim());
  const ticksOf = async (pid: number) => statStartTicks(await readFile(`/proc/${pid}/stat`, "utf8"));
  const OURS = () => new RegExp(`^${process.pid} [0-9a-f]{16} [0-9a-f-]{36} \\d+\n$`);

  it("writes our pid, token, boot id and start time; no temporary file; removed on release", async () => {
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    const text = await readFile(join(dir, FILE), "utf8");
    expect(text).toMatch(OURS());
    expect(text.trim().split(" ").slice(2)).toEqual([await bootId(), await ticksOf(process.pid)]);
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
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(OURS());
    await lock.release();

    await writeFile(join(dir, FILE), "garbage");
    await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(OURS());
  });

  it("takes over a forged stale lock of a live unrelated pid from another boot (power cut)", async () => {
    // pid 1 always exists: the old pid-only rule refused this lock for ever after every reboot.
    await writeFile(
      join(dir, FILE),
      `1 0123456789abcdef 00000000-0000-4000-8000-000000000000 ${await ticksOf(1)}\n`,
    );
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(OURS());
    await lock.release();
  });

  it("takes over a lock naming a live pid of this boot whose start time differs (pid reused)", async () => {
    child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    const pid = child.pid!;
    const real = Number(await ticksOf(pid));
    await writeFile(join(dir, FILE), `${pid} 0123456789abcdef ${await bootId()} ${real - 1}\n`);
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(join(dir, FILE), "utf8")).toMatch(OURS());
    await lock.release();
  });

  it("refuses a live real holder (same boot, same start time) with a clear message", async () => {
    child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    const pid = child.pid!;
    await writeFile(join(dir, FILE), `${pid} 0123456789abcdef ${await bootId()} ${await ticksOf(pid)}\n`);
    await expect(
      acquireDirLock(dir, FILE, { what: "agent data directory", hint: "stop the other agent" }),
    ).rejects.toMatchObject({
      message: `agent data directory ${dir} is already open by process ${pid} (lock file ${join(dir, FILE)})`,
      hint: "stop the other agent",
    });
  });

  it("takes over an old-format lock (pid only) of a process started after it was written", async () => {
    // Written "before the reboot": pid 1 of this boot started after the file's time.
    const path = join(dir, FILE);
    await writeFile(path, "1\n");
    const { utimes } = await import("node:fs/promises");
    const btime = (await linuxProc.bootTime())!;
    await utimes(path, btime - 3600, btime - 3600);
    const lock = await acquireDirLock(dir, FILE, { what: "test dir" });
    expect(await readFile(path, "utf8")).toMatch(OURS());
    await lock.release();
  });

  it("reads the start time after a command name holding spaces and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    expect(statStartTicks(`42 (a) b (c) ${fields.join(" ")}`)).toBe("22");
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
