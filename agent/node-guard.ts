/**
 * The first module the CLI loads, with no imports of its own: on a Node.js older than the one the
 * agent needs it says so plainly and exits, before any module that would fail on it is evaluated
 * (outbox-codec's zlib.crc32 appeared in Node 20.15; Debian bookworm ships Node 18).
 */

/** The oldest Node.js the agent runs on; package.json's engines.node says the same (a test checks). */
export const MIN_NODE = "20.15.0";

/** A message naming the installed and the required version, or undefined when `version` is new enough. */
export function nodeVersionProblem(version: string): string | undefined {
  const have = version
    .replace(/^v/, "")
    .split(".")
    .map((n) => Number.parseInt(n, 10));
  const need = MIN_NODE.split(".").map(Number);
  for (let i = 0; i < need.length; i += 1) {
    const h = have[i] ?? 0;
    const n = need[i] ?? 0;
    if (Number.isNaN(h)) break;
    if (h > n) return undefined;
    if (h < n) {
      return (
        `qos-probe needs Node.js >= ${MIN_NODE}, this is Node.js ${version.replace(/^v/, "")}\n` +
        "  hint: install Node.js 20 LTS or newer (e.g. from the NodeSource or nodejs.org packages; " +
        "Debian bookworm's own nodejs package is 18)\n"
      );
    }
  }
  return undefined;
}

const problem = nodeVersionProblem(process.versions.node);
if (problem) {
  process.stderr.write(problem);
  process.exit(1);
}
