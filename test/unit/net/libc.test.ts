import { execFileSync } from "node:child_process";
import { readdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ffiDisabled, libc, loadedLibc } from "../../../agent/net/libc.js";
import { REPO_ROOT, transpileForChild } from "../../helpers/ts-child.js";

/** The FFI is optional: when koffi cannot be loaded (npm install --omit=optional), nothing throws. */
describe("the FFI loader", () => {
  it("gives null with a reason when koffi is not installed; sockets and clocks fall back", async () => {
    // A real child whose node_modules holds everything but koffi, as `npm ci --omit=optional` leaves it.
    const tree = await transpileForChild(["agent/net/udp.ts", "agent/host/realtime.ts"]);
    try {
      const modules = join(tree.dir, "node_modules");
      await rm(modules);
      const { mkdir } = await import("node:fs/promises");
      await mkdir(modules);
      for (const name of await readdir(join(REPO_ROOT, "node_modules"))) {
        if (name === "koffi" || name === "@koromix" || name === ".bin") continue;
        await symlink(join(REPO_ROOT, "node_modules", name), join(modules, name));
      }
      const script = `
        import { libc, libcUnavailableReason } from "./agent/net/libc.js";
        import { timestampMode } from "./agent/net/udp.js";
        import { realtimeSource } from "./agent/host/realtime.js";
        console.log(JSON.stringify({ libc: libc(), reason: libcUnavailableReason(),
          mode: await timestampMode(), clock: realtimeSource().source }));`;
      const env = { ...process.env };
      delete env.QOSPROBE_TIMESTAMPS;
      delete env.QOSPROBE_NO_FFI;
      const out = JSON.parse(
        execFileSync(process.execPath, ["--input-type=module", "-e", script], {
          cwd: tree.dir,
          env,
          encoding: "utf8",
        }),
      );
      expect(out.libc).toBeNull();
      expect(out.reason).toMatch(/^koffi unavailable: Cannot find (module|package) 'koffi'/);
      expect(out.mode).toBe("user");
      expect(out.clock).toBe("performance");
    } finally {
      await tree.remove();
    }
  });

  it("one switch turns the FFI off everywhere; its older name still works", () => {
    expect(ffiDisabled({ QOSPROBE_TIMESTAMPS: "user" })).toBe(true);
    expect(ffiDisabled({ QOSPROBE_NO_FFI: "1" })).toBe(true);
    expect(ffiDisabled({ QOSPROBE_TIMESTAMPS: "kernel" })).toBe(false);
    expect(ffiDisabled({})).toBe(false);
  });

  it.skipIf(ffiDisabled() || process.platform !== "linux")(
    "binds libc functions on Linux, lazily, and caches them per declaration",
    () => {
      const c = libc();
      expect(c).not.toBeNull();
      expect(loadedLibc()).toBe(c);
      const getpid = c?.func("int getpid()");
      expect(getpid?.()).toBe(process.pid);
      expect(c?.func("int getpid()")).toBe(getpid);
    },
  );

  it("importing the agent's clock, socket and runner modules does not load koffi", () => {
    // The rss work keeps start-up lean: koffi must load on first use, never at import.
    const script = `
      import "./dist/agent/clock.js";
      import "./dist/agent/net/udp.js";
      import "./dist/agent/probe/runner.js";
      import { createRequire } from "node:module";
      const require = createRequire(import.meta.url);
      const loaded = Object.keys(require.cache).some((k) => k.includes("/koffi/"));
      console.log(JSON.stringify({ loaded }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      }),
    );
    expect(out.loaded).toBe(false);
  });
});
