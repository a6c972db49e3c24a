/**
 * Node.js flags the agent runs with in production: the systemd unit's ExecStart and the container's
 * ENTRYPOINT carry them (a test checks both), and `npm run bench:agent` measures with them.
 *
 * --max-semi-space-size=1: V8 grows each young-generation semi-space up to 16 MiB under allocation
 *   bursts and keeps it; the agent allocates little per second (30 peers at 1 pps), so 1 MiB costs a
 *   few more scavenges and saves ≈ 15–30 MiB resident on a 512 MiB Raspberry Pi.
 * --v8-pool-size=1: one V8 background thread instead of one per core (4 on a Pi); the agent's heap is
 *   small, so parallel GC and compilation buy nothing and each thread's stack and arenas cost memory.
 */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=1", "--v8-pool-size=1"] as const;
