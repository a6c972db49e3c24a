import { readKeyFile } from "./config/secrets.js";
import { QosProbeError } from "./errors.js";
import { readClockSync } from "./host/clock-sync.js";
import type { Logger } from "./log.js";
import type { ClockSyncState } from "./probe/prober.js";
import { Reflector, type ReflectorAuthMode } from "./probe/stamp/reflector.js";
import type { ReflectorThread } from "./probe/stamp/reflector-kernel.js";
import { parseListen } from "./probe/target.js";

export interface ReflectRoleOptions {
  listen: string;
  allow?: string[];
  rate_limit_pps: number;
  stateful: boolean;
  auth_mode: ReflectorAuthMode;
  auth_key_file?: string;
  stats_interval_s: number;
  /** Where the kernel-timestamped packet loop runs (ReflectorOptions.thread); default main. */
  thread?: ReflectorThread;
}

/**
 * The `reflect` command line's auth options that contradict each other, as a usage error (exit 2), in
 * the command line's own words; undefined when they agree. A key file with the default (or explicit)
 * open mode would be read and then ignored: an authenticated sender would get unauthenticated replies
 * and report STAMP_AUTH, "the keys differ", though they are the same.
 */
export function reflectAuthProblem(
  mode: ReflectorAuthMode,
  keyFile: string | undefined,
): QosProbeError | undefined {
  if (mode === "open" && keyFile !== undefined) {
    return new QosProbeError(
      "USAGE",
      `--auth-key-file ${keyFile} is given but --auth-mode is open: the key would be ignored`,
      { hint: "add --auth-mode both (open and authenticated senders) or --auth-mode authenticated" },
    );
  }
  if (mode !== "open" && keyFile === undefined) {
    return new QosProbeError("USAGE", `--auth-mode ${mode} needs the shared HMAC key`, {
      hint: "add --auth-key-file FILE (create one with: openssl rand -hex 32 > FILE && chmod 600 FILE)",
    });
  }
  return undefined;
}

/** How often the reflector re-reads the host's clock-sync state for its Error Estimate S bit. */
const CLOCK_SYNC_REFRESH_MS = 60_000;

/**
 * `qos-probe reflect`: a STAMP session-reflector alone, until SIGINT/SIGTERM. Logs its counters
 * periodically so an operator can see who is probing and what is dropped.
 */
export async function runReflectorRole(opts: ReflectRoleOptions, log: Logger): Promise<void> {
  const { host, port } = parseListen(opts.listen);
  let clockSync: ClockSyncState = await readClockSync();
  const reflector = new Reflector({
    host,
    port,
    clockSync: () => clockSync,
    authMode: opts.auth_mode,
    ...(opts.auth_key_file ? { authKey: await readKeyFile(opts.auth_key_file) } : {}),
    ...(opts.allow?.length ? { allow: opts.allow } : {}),
    rateLimitPps: opts.rate_limit_pps,
    stateful: opts.stateful,
    ...(opts.thread ? { thread: opts.thread } : {}),
    log,
  });
  await reflector.start();
  const bound = reflector.address();
  log.info(
    {
      address: bound.address,
      port: bound.port,
      auth_mode: opts.auth_mode,
      clock_synced: clockSync.synced,
      timestamps: reflector.timestamps,
      thread: reflector.thread,
      receive_buffer_bytes: reflector.receiveBufferBytes,
    },
    `STAMP reflector listening on ${bound.address}:${bound.port} ` +
      `(${reflector.timestamps} timestamps, packet loop on the ${reflector.thread} thread)`,
  );

  const refresh = setInterval(() => {
    readClockSync().then((s) => {
      clockSync = s;
    });
  }, CLOCK_SYNC_REFRESH_MS);
  const stats =
    opts.stats_interval_s > 0
      ? setInterval(
          () => log.info({ counters: reflector.counters }, "reflector counters"),
          opts.stats_interval_s * 1000,
        )
      : undefined;

  // Signals stay handled until the end: a second one (`timeout` forwards to the child and its group,
  // a person presses Ctrl-C twice) must not kill the process before its counters are logged. Stopping
  // is bounded (a worker is joined for at most 2 s), so a repeat is only noted.
  let stopping = false;
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  await new Promise<void>((resolve) => {
    onSignal = (signal) => {
      if (stopping) {
        log.info({ signal }, "reflector already stopping");
        return;
      }
      stopping = true;
      log.info({ signal, counters: reflector.counters }, "reflector stopping");
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  clearInterval(refresh);
  if (stats) clearInterval(stats);
  await reflector.stop();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
