import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { CLI } from "../../helpers/agent-process.js";

/**
 * The agent role loads no collector- or demo-only module (PGlite, pg, aedes, the report): on a 512 MiB
 * Raspberry Pi every module costs resident memory. A module-resolution hook records every module the
 * real agent process imports while it starts, measures and stops.
 */

const FORBIDDEN = /@electric-sql\/pglite|\/node_modules\/pg\/|\/node_modules\/aedes|\/dist\/collector\//;

describe("agent role modules", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("loads no PGlite, pg, aedes or report module", async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-modules-"));
    const log = join(dir, "modules.txt");
    const hooks = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
  return r;
}`;
    await writeFile(join(dir, "hooks.mjs"), hooks);
    await writeFile(
      join(dir, "register.mjs"),
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
    );
    await writeFile(
      join(dir, "agent.yaml"),
      `version: 1
agent: { site: bj-01, data_dir: ${join(dir, "data")} }
sites:
  - { id: bj-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: 9 } }
  - { id: gz-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: 9 } }
reflector: { listen: "127.0.0.1:0" }
tests:
  - { id: bj-gz, method: stamp, from: bj-01, to: gz-01, rate_pps: 10, loss_timeout_ms: 200, continuous: { interval_s: 1 } }
  - { id: bj-gz-icmp, method: icmp, from: bj-01, to: gz-01, rate_pps: 5, loss_timeout_ms: 200, continuous: { interval_s: 1 } }
mqtt: { url: "mqtt://127.0.0.1:9", keepalive_s: 5 }
heartbeat: { interval_s: 5 }
`,
    );
    const child = spawn(
      process.execPath,
      [
        "--import",
        pathToFileURL(join(dir, "register.mjs")).href,
        CLI,
        "agent",
        "--config",
        join(dir, "agent.yaml"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stderr.on("data", (c) => {
      out += c;
    });
    const exited = once(child, "exit");
    try {
      const end = Date.now() + 20_000;
      // Two results: the scheduler, both probers, the runner and the outbox have all been loaded.
      while ((out.match(/"msg":"result"/g) ?? []).length < 2 && child.exitCode === null && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((out.match(/"msg":"result"/g) ?? []).length, out).toBeGreaterThanOrEqual(2);
    } finally {
      // SIGKILL: a SIGTERM would wait up to 10 s to flush the outbox to the absent broker.
      child.kill("SIGKILL");
      await exited;
    }
    const modules = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    expect(modules.some((m) => m.includes("/dist/agent/agent.js"))).toBe(true);
    expect(modules.some((m) => m.includes("/node_modules/mqtt/"))).toBe(true);
    expect(modules.filter((m) => FORBIDDEN.test(m))).toEqual([]);
  }, 40_000);
});
