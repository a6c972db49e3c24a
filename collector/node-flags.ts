/**
 * Node.js flags the collector runs with in production: docker-compose.yml's collector entrypoint
 * carries them (a test checks it), the README's collector command names them, and `npm run
 * bench:report` measures with them.
 *
 * --max-semi-space-size=32: a result waits in memory, as its record (store.ts ResultRecord), from its
 *   arrival until its batch commits: up to the brokers' Receive Maximum, 4,000 results of ≈ 3 kB. With
 *   V8's default young generation (semi-spaces up to 16 MiB) a scavenge comes every few thousand
 *   results and promotes those still waiting (38–50 % of what it scanned, --trace-gc-nvp) to the old
 *   generation, where a mark-compact must free them later. With 32 MiB more of them die young. bench:report unsigned ingest, 6 alternated runs each
 *   (2 cores): 18,949–21,254 results/s stored against 15,821–19,309 with the default
 *   (medians 20,680 / 19,170), node CPU 37–45 µs a result against 45–59; 64 MiB was no better than 32.
 *   It raises the collector's resident memory under load by up to ≈ 32 MiB (two larger semi-spaces):
 *   bench:report's monthly HTML report peaked at 275 MB RSS with it against 246 MB without (the goal
 *   is 300 MB); CSV 0.69 s and JSON 0.72 s, HTML 1.84 s against 1.68 s, one run each.
 *
 * Unlike the agent's interpreter-only flags (agent/node-flags.ts), this one is allowed in
 * NODE_OPTIONS as well.
 */
export const COLLECTOR_NODE_FLAGS = ["--max-semi-space-size=32"] as const;

/**
 * Which of COLLECTOR_NODE_FLAGS this process was started without, on its command line (`execArgv`) or
 * in NODE_OPTIONS; [] when it has them all. The collector logs the missing ones at start.
 */
export function missingCollectorFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((f) => f.split("=")[0]);
  return COLLECTOR_NODE_FLAGS.filter((f) => !given.includes(f.split("=")[0]));
}
