/**
 * Node.js flags the agent runs with in production: the systemd unit's ExecStart and the container's
 * ENTRYPOINT carry them (a test checks both), and `npm run bench:agent` measures with them.
 *
 * --max-semi-space-size=1: V8 grows each young-generation semi-space up to 16 MiB under allocation
 *   bursts and keeps it; the agent allocates little per second (30 peers at 1 pps), so 1 MiB costs a
 *   few more scavenges and saves ≈ 15–30 MiB resident on a 512 MiB Raspberry Pi.
 * --v8-pool-size=1: one V8 background thread instead of one per core (4 on a Pi); the agent's heap is
 *   small, so parallel GC and compilation buy nothing and each thread's stack and arenas cost memory.
 * --no-turbofan --no-maglev --no-sparkplug: no optimising (TurboFan, Maglev) and no baseline
 *   (Sparkplug) machine code: the agent's JavaScript runs in V8's bytecode interpreter. Its work is a few packets and one result per
 *   test and interval, so the compiled code, its deoptimisation data and the compilers' own pages of
 *   the node binary cost more resident memory (≈ 12 MiB in bench:agent) than the speed buys; the same
 *   bench shows no rise in CPU share. (--jitless / --lite-mode would save a little more but switch off
 *   WebAssembly, which the HTTP prober's HTTP parser, undici's llhttp, needs.)
 *
 * --optimize-for-size: V8 favours memory over speed in its heap sizing and garbage collection; without
 *   it the agent's heap commits ≈ 27 MiB to hold ≈ 18 MiB of live objects after 50 s.
 *   bench:agent, alternating runs on a shared 2-core machine (load average 2.7–7.6): peak RSS 77.4 /
 *   79.2 / 79.3 / 79.2 MiB with it, 89.2 / 86.0 / 83.5 / 80.4 MiB without (and 79.4 in a lone run): it
 *   mostly removes the high peaks, ≈ 1–10 MiB; CPU share 8.7 / 10.4 / 7.5 / 9.2 % against 8.7 / 7.8 /
 *   7.5 / 8.2 %, within the noise. To be re-measured on a quiet machine.
 *
 * --no-node-snapshot: Node.js bootstraps each isolate (the main thread and the STAMP reflector's worker)
 *   from its internal JavaScript instead of deserialising its start-up snapshot, which materialises
 *   the whole of Node.js's internal heap and touches the snapshot's pages of the node binary up front.
 *   bench:agent, alternating runs (load average 4.0–6.7): peak RSS 75.4 / 74.0 MiB with it, 78.8 /
 *   79.7 without; CPU share 9.5 / 8.2 % against 8.5 / 7.7 %. In a bare process with one worker thread:
 *   48.9 MiB against 52.5. Start-up takes a few tens of milliseconds longer, once.
 *
 * Node.js does not accept --no-turbofan, --no-maglev, --no-sparkplug and --optimize-for-size in
 * NODE_OPTIONS: they go on the command line (the unit's ExecStart, the image's ENTRYPOINT). (--no-turbofan is V8's name for the older --no-opt.)
 */
export const AGENT_NODE_FLAGS = [
  "--max-semi-space-size=1",
  "--v8-pool-size=1",
  "--no-turbofan",
  // Maglev is off by default in Node.js 20's V8 (11.3) and on in Node.js 22's: named so both behave alike.
  "--no-maglev",
  "--no-sparkplug",
  "--optimize-for-size",
  "--no-node-snapshot",
] as const;

/**
 * The production entry point, relative to the package root: the minified bundle of the CLI
 * (scripts/bundle.ts, the second step of `npm run build`), which the systemd unit's ExecStart and the
 * image's ENTRYPOINT and HEALTHCHECK run, and bench:agent measures. It loads one file per part instead
 * of ≈ 250 modules (V8 keeps every module's source text on its heap: ≈ 5 MiB of strings, ≈ 2.3 with
 * the bundle): bench:agent, alternating runs (load average 3.5–7.8), peak RSS 71.6 / 72.3 MiB against
 * 74.5 / 73.0 for the tsc output dist/agent/cli.js (which the tests and `npm start` run).
 *
 * Tried and not kept (bench:agent, alternating with the flags and bundle above, load 1–3.7): --jitless
 * 70.1 / 69.1 MiB against 68.2 / 68.4 (no gain, so the HTTP prober keeps undici, whose llhttp needs
 * WebAssembly); MALLOC_ARENA_MAX=2 70.3 / 69.1 (no gain); worker resourceLimits (no change in a bare
 * process: the flags above already apply to every isolate). Where the remaining ≈ 68 MiB are: ≈ 33 MiB
 * are the node binary's own file pages (shared, clean: 30 in a bare `node -e`), ≈ 4 the shared
 * libraries, ≈ 17–19 the main thread's V8 heap, ≈ 6.4 the reflector's worker thread, ≈ 5 malloc.
 *
 * Tried and not kept, second round (bench:agent 45 s runs, alternated in one run, load average 6–10
 * on the shared 2-core host, peak RSS varies ±3 MiB from run to run with the timing of V8's
 * mark-compact): zod `config({ jitless: true })` 70.5 / 68.0 MiB against 71.5 / 67.9; --heap-growing-percent=10
 * 71.2 / 70.8 against 69.9 / 71.5; --bytecode-old-age=1 68.0 / 69.5 / 67.4 against 72.0 / 68.2 / 68.5 (its live heap after a full GC is ≈ 0.7 MB
 * smaller, the RSS is not); --single-threaded-gc 71.1
 * against 72.4; --compact-on-every-full-gc 69.8 / 69.9 against 71.2 / 70.1 (it does hold the main
 * heap's committed size after a full GC at live + ≈ 1.5 MiB, 13.6–14.1 MB against 19.6–20.6 in
 * --trace-gc, but the RSS peak comes before that GC, while promoted garbage accumulates for ≈ 20–30 s).
 * In a bare process (`node <flags> -e` with one idle worker): a worker thread costs 6.1–6.2 MiB, of
 * which its V8 heap is 5.6 (new space 2 MiB: V8 keeps two semi-spaces of at least 1 MiB, and
 * resourceLimits.maxYoungGenerationSizeMb below that changes nothing; old space 3.3 MiB of Node.js's
 * own bootstrap); MALLOC_ARENA_MAX=1/2, glibc trim/mmap thresholds, --single-threaded(-gc),
 * --lite-mode: each within 0.5 MiB. The main thread's live heap in bench:agent is ≈ 11–12 MB (heap
 * snapshot: 3.75 MiB code and metadata, 2.3 strings of which 1.2 are the bundle's sources, 1.4 maps).
 *
 * Kept, third round: every module imports zod as a namespace (`import * as z from "zod"`, the form
 * zod 4 documents) instead of `import { z }`. The named `z` is zod's whole namespace object, so
 * esbuild kept all of zod 4 in the bundle (454 KB: every locale, JSON-schema import/export); with
 * the namespace import it tree-shakes to what the schemas use (≈ 100 KB). In the agent's heap
 * snapshot zod was the largest single module: 443 KB of source and 0.87 MB of code. bench:agent,
 * alternated (load average 1.4–3.0): peak RSS 66.5 / 66.5 MiB against 68.3 / 68.2 (and at the same
 * number of results received, 90: 66.3–66.5 against 67.6–67.8). A bare process that imports the
 * bundle and parses one object: 42.2 MiB against 43.9.
 *
 * Kept, third round: the reflector's worker is its own CommonJS bundle, dist/bundle/reflector-worker.cjs
 * (scripts/bundle.ts), so the worker's isolate does not set up Node.js's ES module loader. A bare
 * process with one idle worker: 47.4 MiB with a .cjs entry against 48.5–48.8 with an .mjs one.
 * bench:agent, alternated (load average 2.0–3.4): peak RSS 65.6 / 66.0 MiB against 65.9 / 66.4;
 * anonymous memory 23.2 / 23.0 against 23.7 / 24.0 MiB (the B runs received 110 / 120 results, the
 * A runs 90 / 90: the intervals are wall-clock aligned).
 *
 * Kept, fourth round: the kernel-timestamped reflector's packet loop runs on the main thread by default
 * (reflector.thread: main; reflector-kernel.ts ReflectorThread), woken by a libuv poll handle like the
 * sender's socket, instead of in a worker thread with its own V8 isolate. bench:agent, alternated
 * (BENCH_REFLECTOR_THREAD=worker|main, load average 0.2–0.5, 90–100 results): peak RSS 66.6 / 66.2 MiB
 * in a worker against 58.9 / 59.0 on the main thread; anonymous 23.9 / 23.6 against 16.4 / 16.5; CPU
 * 6.0 / 6.6 % against 5.7 / 6.1 %. What the main thread adds is measured by each reply's kernel TX
 * stamp: against a demo agent's reflector, 1,000 packets at 10 ms, the worst reply left 0.093 ms after
 * its T3 (corrected by Follow-Up Telemetry) while its residence time reached 33 ms (a busy moment of
 * the agent, which the sender subtracts); bench:truth kernel max − min 0.018 / 0.016 / 0.014 ms.
 *
 * Measured, not kept: connecting with our own copy of mqtt.js's tcp/tls transport set-up instead of
 * mqtt.js's connect() (whose first call loads ws, with http, https and zlib, and the SOCKS stack):
 * bench:agent 66.6 / 66.6 against 66.9 / 68.0 MiB, within the spread; it would duplicate library code
 * and lose MQTTJS_SOCKS_PROXY.
 */
export const AGENT_ENTRY = "dist/bundle/cli.js";
