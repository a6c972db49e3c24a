import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type BuildOptions, build } from "esbuild";

/** The repository root: this compiled file is dist/scripts/bundle.js. */
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Packages the bundle leaves to node_modules: koffi is a native addon (its .node file is loaded by
 * path); pino starts pino-pretty in a worker thread by module name; PGlite and undici load their own
 * WebAssembly files beside their sources; pg, aedes and undici run only in the collector and test
 * roles; bufferutil and utf-8-validate are optional native helpers that ws (under mqtt) tries to load.
 */
export const BUNDLE_EXTERNAL = [
  "koffi",
  "pino",
  "pino-pretty",
  "@electric-sql/pglite",
  "@electric-sql/pglite/*",
  "pg",
  "aedes",
  "undici",
  "bufferutil",
  "utf-8-validate",
] as const;

/**
 * `npm run build` step 2: the production bundle dist/bundle/, which the systemd unit, the container
 * image and bench:agent run (the tsc output dist/agent/ stays for the tests and `npm start`).
 *
 * Why a bundle: V8 keeps the source text of every module it loaded on the heap, and the agent at idle
 * loaded ≈ 250 files (zod alone 95, uuid 20), with comments, in two-byte strings where a comment held
 * a non-ASCII character. One minified, ASCII-only file per thread, tree-shaken, holds a fraction of that.
 *
 * Entry points: dist/bundle/cli.js (the CLI, every role) and dist/bundle/reflector-worker.cjs (the STAMP
 * reflector's worker thread, which reflector-kernel.ts starts from beside its own file, built apart as
 * one CommonJS file); the roles the
 * CLI imports on demand (collector, report, demo, …) become chunks beside them, loaded only when run.
 * CommonJS packages inside the bundle get `require` from createRequire (the banner), for the Node.js
 * built-ins they require. Errors: esbuild's own (a failed build rejects, and the process exits 1).
 */
export async function bundle(): Promise<void> {
  // Chunk names carry content hashes: a chunk of an earlier build would otherwise stay beside the new ones.
  await rm(join(ROOT, "dist/bundle"), { recursive: true, force: true });
  // What both bundles share: self-contained minified files for Node.js 20, native addons left out.
  const common = {
    absWorkingDir: ROOT,
    outdir: "dist/bundle",
    bundle: true,
    platform: "node",
    target: "node20",
    minify: true,
    charset: "ascii",
    legalComments: "none",
    sourcemap: false,
    external: [...BUNDLE_EXTERNAL],
    logLevel: "warning",
  } satisfies BuildOptions;
  await build({
    ...common,
    entryPoints: { cli: "agent/cli.ts" },
    entryNames: "[name]",
    // Chunks beside the entry: reflector-kernel.ts looks for ./reflector-worker.cjs next to the file
    // its code is in, whichever chunk that is.
    chunkNames: "[name]-[hash]",
    splitting: true,
    format: "esm",
    banner: {
      js: 'import { createRequire as __qpCreateRequire } from "node:module"; const require = __qpCreateRequire(import.meta.url);',
    },
  });
  // The reflector's worker thread: one self-contained CommonJS file. A worker whose entry is an ES
  // module sets up Node.js's ES module loader in its own isolate; a CommonJS one does not (a bare
  // process with one idle worker, agent flags: 47.4 MiB with a .cjs entry against 48.5–48.8 with .mjs).
  // It shares no module instance with the main thread (they are separate isolates anyway), so
  // bundling its ≈ 30 KB of imports into it duplicates nothing that is loaded twice in one isolate.
  await build({
    ...common,
    entryPoints: { "reflector-worker": "agent/probe/stamp/reflector-worker.ts" },
    outExtension: { ".js": ".cjs" },
    format: "cjs",
    // net/libc.ts loads koffi with createRequire(import.meta.url): CommonJS has no import.meta.
    define: { "import.meta.url": "__qpImportMetaUrl" },
    banner: { js: 'const __qpImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
}

bundle().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
