import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import type { ClockSyncState } from "../probe/prober.js";
import { libcTime, STA_UNSYNC, TIME_ERROR, type Timex } from "./libc-time.js";
import { realtimeSource } from "./realtime.js";

/** Each outside command gets this long; a hung D-Bus or chronyd must not hold up a heartbeat. */
const COMMAND_TIMEOUT_MS = 2_000;
/** systemd-timesyncd creates this file once it has synchronised the clock (and removes it on reboot). */
export const TIMESYNCD_FLAG = "/run/systemd/timesync/synchronized";

/** Run a command; its stdout, or null when it is missing, fails, or outlives the timeout. */
export type RunCommand = (file: string, args: string[]) => Promise<string | null>;

export interface ClockSyncDeps {
  env?: NodeJS.ProcessEnv;
  run?: RunCommand;
  exists?: (path: string) => Promise<boolean>;
  /** adjtimex(2) with modes = 0; null when the FFI is not available (another OS, no koffi). */
  adjtimex?: (() => Timex) | null;
  /** Remembers that this process saw the clock synchronised (the process lives within one boot). */
  latch?: SyncLatch;
}

/** "Synchronised at least once since boot", as far as this process has seen. */
export interface SyncLatch {
  syncedOnce: boolean;
}
const processLatch: SyncLatch = { syncedOnce: false };

/**
 * What the host knows about its clock, asked in order: QOSPROBE_CLOCK_SYNCED (a lab's override, source
 * "assumed"); adjtimex(2) (the kernel's own state, cheap, needs no daemon tool, right inside containers,
 * which share the host's clock); then, where the FFI cannot load, `timedatectl`, `chronyc tracking` and
 * the timesyncd flag file. `synced_once` is true once the clock has been synchronised since boot (seen
 * by this process, or the timesyncd flag file that systemd removes at boot); until then results are
 * flagged clock-unsynced. Never throws.
 */
export async function readClockSync(deps: ClockSyncDeps = {}): Promise<ClockSyncState> {
  const env = deps.env ?? process.env;
  const run = deps.run ?? runCommand;
  const exists = deps.exists ?? fileExists;
  const latch = deps.latch ?? processLatch;
  const adjtimex = deps.adjtimex === undefined ? defaultAdjtimex() : deps.adjtimex;
  try {
    const assumed = env.QOSPROBE_CLOCK_SYNCED;
    if (assumed === "1" || assumed === "0") {
      return { synced: assumed === "1", synced_once: assumed === "1", source: "assumed" };
    }

    if (adjtimex) {
      const kernel = fromTimex(adjtimex());
      if (kernel.synced) latch.syncedOnce = true;
      else if (!latch.syncedOnce && (await exists(TIMESYNCD_FLAG))) latch.syncedOnce = true;
      return { ...kernel, synced_once: latch.syncedOnce };
    }

    const timedatectl = parseTimedatectl(
      await run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]),
    );
    if (timedatectl !== null) return latched(latch, { synced: timedatectl, source: "timedatectl" });

    const chrony = parseChronyTracking(await run("chronyc", ["-n", "tracking"]));
    if (chrony !== null) return latched(latch, { ...chrony, source: "chrony" });

    if (await exists(TIMESYNCD_FLAG)) return latched(latch, { synced: true, source: "timesyncd" });
  } catch {
    // A probe of the host must never take the agent down; fall through to "unknown".
  }
  return { synced: false, synced_once: latch.syncedOnce, source: "unknown" };
}

/**
 * The kernel's clock state from adjtimex(2). Synchronised unless STA_UNSYNC is set or the call returns
 * TIME_ERROR (the kernel sets STA_UNSYNC itself once maxerror passes 16 s without a daemon update).
 * maxerror is the kernel's bound on |clock − UTC| (the daemon sets it, the kernel adds 500 ppm per
 * second); esterror the daemon's estimate. Both µs in the struct, ms here.
 */
export function fromTimex(t: Timex): Omit<ClockSyncState, "synced_once"> {
  const synced = (t.status & STA_UNSYNC) === 0 && t.state !== TIME_ERROR;
  return {
    synced,
    source: "adjtimex",
    max_error_ms: t.maxerror_us / 1000,
    est_error_ms: t.esterror_us / 1000,
  };
}

function defaultAdjtimex(): (() => Timex) | null {
  const libc = libcTime();
  return libc ? () => libc.adjtimex() : null;
}

/** `timedatectl show -p NTPSynchronized --value` prints "yes" or "no"; anything else is no answer. */
export function parseTimedatectl(stdout: string | null): boolean | null {
  const value = stdout?.trim();
  if (value === "yes") return true;
  if (value === "no") return false;
  return null;
}

/**
 * `chronyc -n tracking`. Leap status "Not synchronised" means unsynced; "Normal" (or a pending leap
 * second, "Insert second" / "Delete second") means synced. The error bound is chrony's own:
 * |System time offset| + Root dispersion + Root delay / 2 (chronyc(1), "Root dispersion").
 */
export function parseChronyTracking(stdout: string | null): Omit<ClockSyncState, "source"> | null {
  if (stdout === null) return null;
  const fields = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const leap = fields.get("Leap status");
  if (leap === undefined) return null;
  if (leap === "Not synchronised") return { synced: false };
  if (!["Normal", "Insert second", "Delete second"].includes(leap)) return null;

  const offset = leadingSeconds(fields.get("System time"));
  const dispersion = leadingSeconds(fields.get("Root dispersion"));
  const delay = leadingSeconds(fields.get("Root delay"));
  if (offset === null || dispersion === null || delay === null) return { synced: true };
  const maxErrorMs = (Math.abs(offset) + dispersion + delay / 2) * 1000;
  return { synced: true, max_error_ms: Math.round(maxErrorMs * 1e6) / 1e6 };
}

/** "0.000006523 seconds slow of NTP time" → 0.000006523. */
function leadingSeconds(text: string | undefined): number | null {
  const m = /^([+-]?\d+(?:\.\d+)?) seconds/.exec(text ?? "");
  return m ? Number(m[1]) : null;
}

function latched(latch: SyncLatch, state: Omit<ClockSyncState, "synced_once">): ClockSyncState {
  if (state.synced) latch.syncedOnce = true;
  // Without the FFI our timestamps come from the slewed performance clock: what it has not yet
  // slewed out adds to the host's bound.
  const residual = libcTime() ? 0 : realtimeSource().residual_ms;
  const bound = state.max_error_ms === undefined ? {} : { max_error_ms: state.max_error_ms + residual };
  return { ...state, ...bound, synced_once: latch.syncedOnce };
}

const runCommand: RunCommand = (file, args) =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL", env: { ...process.env, LANG: "C", LC_ALL: "C" } },
      (err, stdout) => resolve(err ? null : stdout),
    );
  });

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
