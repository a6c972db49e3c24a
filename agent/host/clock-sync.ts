import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import type { ClockSyncState } from "../probe/prober.js";

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
}

/**
 * What the host knows about its clock, asked in order: QOSPROBE_CLOCK_SYNCED (a lab's override, source
 * "assumed"), `timedatectl` (the kernel's view as systemd reports it), `chronyc tracking` (also gives
 * an error bound), the timesyncd flag file. The first source that answers wins; with none, the clock
 * is not trusted. Never throws.
 */
export async function readClockSync(deps: ClockSyncDeps = {}): Promise<ClockSyncState> {
  const env = deps.env ?? process.env;
  const run = deps.run ?? runCommand;
  const exists = deps.exists ?? fileExists;
  try {
    const assumed = env.QOSPROBE_CLOCK_SYNCED;
    if (assumed === "1" || assumed === "0") return { synced: assumed === "1", source: "assumed" };

    const timedatectl = parseTimedatectl(
      await run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]),
    );
    if (timedatectl !== null) return { synced: timedatectl, source: "timedatectl" };

    const chrony = parseChronyTracking(await run("chronyc", ["-n", "tracking"]));
    if (chrony !== null) return { ...chrony, source: "chrony" };

    if (await exists(TIMESYNCD_FLAG)) return { synced: true, source: "timesyncd" };
  } catch {
    // A probe of the host must never take the agent down; fall through to "unknown".
  }
  return { synced: false, source: "unknown" };
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
