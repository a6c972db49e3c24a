import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { AGENT_ENTRY, AGENT_NODE_FLAGS } from "../../../agent/node-flags.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPgliteStore } from "../../../collector/store/pglite.js";

/**
 * The production entry point (AGENT_ENTRY: the minified bundle dist/bundle/cli.js that the systemd
 * unit and the image run, built by `npm run build`) run as they run it, with the agent's Node.js flags:
 * the agent measures through its own STAMP reflector, whose worker thread loads the bundle's
 * reflector-worker.cjs; and a collector-side command finds the shipped migrations and PGlite from it.
 */

const ROOT = new URL("../../../", import.meta.url).pathname;
const ENTRY = join(ROOT, AGENT_ENTRY);

function run(args: string[], opts: { hooks?: string } = {}) {
  return spawn(
    process.execPath,
    [...AGENT_NODE_FLAGS, ...(opts.hooks ? ["--import", opts.hooks] : []), ENTRY, ...args],
    // The default timestamp mode (kernel: the reflector in its worker thread), whatever the suite runs with.
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, QOSPROBE_TIMESTAMPS: "" } },
  );
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("the bundle (AGENT_ENTRY)", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("prints the package's version", async () => {
    const child = run(["--version"]);
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    const [code] = await once(child, "exit");
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(code).toBe(0);
    expect(out.trim()).toBe(pkg.version);
  });

  it("validates a configuration, with zod's messages", async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-bundle-"));
    await writeFile(join(dir, "bad.yaml"), "version: 1\nagent: { site: 5 }\n");
    const child = run(["validate", join(dir, "bad.yaml")]);
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      out += c;
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(out).toContain("agent.site: Invalid input: expected string, received number at line 2:16");
  });

  it("runs the agent: STAMP results through its own reflector in a worker thread (reflector.thread: worker), every module from the bundle", async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-bundle-"));
    const log = join(dir, "modules.txt");
    // A module-resolution hook in every thread (workers inherit --import): which files each one loads.
    await writeFile(
      join(dir, "hooks.mjs"),
      `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
  return r;
}`,
    );
    await writeFile(
      join(dir, "register.mjs"),
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
    );
    const port = await freeUdpPort();
    await writeFile(
      join(dir, "agent.yaml"),
      `version: 1
agent: { site: bj-01, data_dir: ${join(dir, "data")} }
sites:
  - { id: bj-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: ${port} } }
  - { id: gz-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: ${port} } }
reflector: { listen: "127.0.0.1:${port}", thread: worker }
tests:
  - { id: bj-gz, method: stamp, from: bj-01, to: gz-01, rate_pps: 10, loss_timeout_ms: 500, continuous: { interval_s: 1 } }
mqtt: { url: "mqtt://127.0.0.1:9", keepalive_s: 5 }
heartbeat: { interval_s: 5 }
`,
    );
    const child = run(["agent", "--config", join(dir, "agent.yaml")], {
      hooks: pathToFileURL(join(dir, "register.mjs")).href,
    });
    let out = "";
    child.stderr.on("data", (c) => {
      out += c;
    });
    const exited = once(child, "exit");
    const results = () =>
      out
        .split("\n")
        .filter((l) => l.includes('"msg":"result"'))
        .map((l) => JSON.parse(l) as { test: string; sent: number; loss_ratio: number; rtt_mean_ms: number });
    try {
      const end = Date.now() + 20_000;
      // The first interval may start before the reflector answers; the second is whole.
      while (results().length < 2 && child.exitCode === null && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(results().length, out).toBeGreaterThanOrEqual(2);
    } finally {
      // SIGKILL: a SIGTERM would wait up to 10 s to flush the outbox to the absent broker.
      child.kill("SIGKILL");
      await exited;
    }
    const second = results()[1];
    expect(second?.test).toBe("bj-gz");
    expect(second?.sent).toBeGreaterThan(0);
    expect(second?.loss_ratio).toBe(0);
    expect(second?.rtt_mean_ms).toBeGreaterThan(0);

    const modules = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    const bundle = pathToFileURL(join(ROOT, "dist/bundle/")).href;
    expect(modules).toContain(`${bundle}cli.js`);
    expect(modules).toContain(`${bundle}reflector-worker.cjs`);
    // Nothing from the tsc output, and the bundled packages are not loaded a second time from node_modules.
    expect(modules.filter((m) => m.includes("/dist/agent/"))).toEqual([]);
    expect(
      modules.filter((m) => /\/node_modules\/(zod|mqtt|yaml|commander|uuid|jose|node-cron)\//.test(m)),
    ).toEqual([]);
  }, 40_000);

  it("reads a collector store: the shipped migrations and PGlite are found from the bundle", async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-bundle-"));
    const dataDir = join(dir, "pglite");
    // An empty store, migrated to the newest version by the tsc-compiled code, then closed.
    const store = await openPgliteStore({ dataDir });
    const migrated = await store.migrate();
    await store.close();
    expect(migrated.current).toBe((await loadMigrations()).length);
    {
      // A read refuses a store older than the migrations it finds: exit 0 says it found all of them.
      const child = run([
        "report",
        "--data-dir",
        dataDir,
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        "--format",
        "csv",
      ]);
      let out = "";
      let err = "";
      child.stdout.on("data", (c) => {
        out += c;
      });
      child.stderr.on("data", (c) => {
        err += c;
      });
      const [code] = await once(child, "exit");
      expect(code, err).toBe(0);
      expect(out.split("\n")[0]).toMatch(/,/);
    }
    // A bound, not a speed goal: PGlite starts twice (here and in the child), each compiling its WASM; on
    // the shared 2-core host under load this test took 75 s and hit the former 40 s.
  }, 120_000);
});
