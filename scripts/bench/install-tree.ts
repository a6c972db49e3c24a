import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { AGENT_ENTRY } from "../../agent/node-flags.js";

const run = promisify(execFile);

/** The repository root: this compiled file is dist/scripts/bench/install-tree.js. */
const ROOT = new URL("../../../", import.meta.url).pathname;

/**
 * The agent as the README installs it on a Raspberry Pi ("On a Raspberry Pi or edge host"): the
 * release tarball (`npm run release`: dist/, config/, migrations, systemd unit, package(-lock).json)
 * unpacked into a directory of its own, then `npm ci --omit=dev` there, so only runtime dependencies
 * are on disk and resolvable. Returns the path of that tree's CLI: the bundle the systemd unit and the
 * image run (AGENT_ENTRY, dist/bundle/cli.js), or with entry "tsc" the TypeScript compiler's output (dist/agent/cli.js).
 *
 * The tree lives in the system temp directory under the SHA-256 of package-lock.json: a second run
 * with the same lock file reuses its node_modules (npm ci takes tens of seconds) and unpacks the new
 * tarball over it; a changed lock file gets a fresh tree. `npm ci` prefers npm's local cache.
 *
 * Errors: a failed `npm run release`, `tar` or `npm ci` rejects with the command's own message.
 */
export async function installedAgentCli(
  log: (line: string) => void,
  entry: "bundle" | "tsc" = "bundle",
): Promise<string> {
  const lock = await readFile(join(ROOT, "package-lock.json"));
  const key = createHash("sha256").update(lock).digest("hex").slice(0, 16);
  const tree = join(tmpdir(), `qosprobe-install-${key}`);
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
  const tarball = join(ROOT, `qos-probe-${pkg.version}.tgz`);

  log(`release tarball: npm run release → ${tarball}`);
  await run("npm", ["run", "release", "--silent"], { cwd: ROOT });
  // Unpack into a fresh directory, keep node_modules of an earlier run with this lock file.
  const fresh = `${tree}.new`;
  await rm(fresh, { recursive: true, force: true });
  await mkdir(fresh, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", fresh]);
  if (existsSync(join(tree, "node_modules")))
    await rename(join(tree, "node_modules"), join(fresh, "node_modules"));
  await rm(tree, { recursive: true, force: true });
  await rename(fresh, tree);
  if (!existsSync(join(tree, "node_modules"))) {
    log(`installed tree: npm ci --omit=dev in ${tree}`);
    await run("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], {
      cwd: tree,
      maxBuffer: 16 * 1024 * 1024,
    });
  } else {
    log(`installed tree: ${tree} (node_modules of this package-lock.json kept)`);
  }
  return join(tree, entry === "bundle" ? AGENT_ENTRY : "dist/agent/cli.js");
}
