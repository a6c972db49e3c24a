import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package's root directory (where package.json, config/ and the migrations live), found by walking
 * up from this file: the same code runs from the source tree (tests) and from dist/ (deployed).
 */
function findRoot(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "qos-probe") return { root: dir, version: pkg.version ?? "0.0.0" };
    } catch {
      // not here: go one level up
    }
    dir = dirname(dir);
  }
  return { root: process.cwd(), version: "0.0.0" };
}

const found = findRoot();
export const PACKAGE_ROOT = found.root;
export const VERSION = found.version;
