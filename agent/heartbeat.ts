import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { HostFacts } from "./host/facts.js";
import type { ClockSyncState } from "./probe/prober.js";
import { STATUS_SCHEMA_ID, StatusMessage } from "./publish/status.js";

export interface Identity {
  site: string;
  operator: string;
  province: string;
  version: string;
}

/** The Last Will: what the broker publishes for us when we vanish without a goodbye. */
export function offlineStatus(id: Identity, reason: "will" | "shutdown", at?: Date): StatusMessage {
  return {
    schema: STATUS_SCHEMA_ID,
    state: "offline",
    site: id.site,
    operator: id.operator,
    province: id.province,
    version: id.version,
    reason,
    ...(at ? { at: at.toISOString() } : {}),
  };
}

export interface OnlineFacts {
  at: Date;
  /** This agent's heartbeat period, seconds: the collector judges a heartbeat stale against it. */
  heartbeat_interval_s: number;
  config_version: string | null;
  config_hash: string;
  /** When the live configuration was loaded (start or the last applied reload). */
  config_loaded_at: Date;
  outbox: {
    depth: number;
    dropped: number;
    bytes: number;
    awaiting_receipt: number;
    append_failed: number;
    /** The seq the next result gets: produced so far is next_seq − 1 (for the collector's gap listing). */
    next_seq: number;
  };
  /** Store receipts: mode, and (when required) counters and whether they are missing. */
  receipts: Record<string, unknown>;
  clock: ClockSyncState;
  host: HostFacts | null;
  reflector: Record<string, number> | null;
  tests: number;
  uptime_s: number;
  mqtt: { published: number; acked: number; failed: number; not_delivered: number };
}

export function onlineStatus(id: Identity, f: OnlineFacts): StatusMessage {
  return {
    schema: STATUS_SCHEMA_ID,
    state: "online",
    reason: "heartbeat",
    site: id.site,
    operator: id.operator,
    province: id.province,
    version: id.version,
    at: f.at.toISOString(),
    heartbeat_interval_s: f.heartbeat_interval_s,
    config_version: f.config_version,
    config_hash: f.config_hash,
    config_loaded_at: f.config_loaded_at.toISOString(),
    outbox: f.outbox,
    receipts: f.receipts,
    clock: f.clock,
    host: f.host,
    reflector: f.reflector,
    tests: f.tests,
    uptime_s: f.uptime_s,
    mqtt: f.mqtt,
  };
}

export const STATUS_FILE = "status.json";

let writes = 0;

/**
 * The last heartbeat also goes to a file in the data directory, written atomically (temp + rename), so
 * `qos-probe health` (the container health check) can tell a live agent without reaching the broker.
 */
export async function writeStatusFile(dir: string, status: StatusMessage): Promise<void> {
  const path = join(dir, STATUS_FILE);
  await mkdir(dirname(path), { recursive: true });
  // A name per write: two heartbeats in flight (the first one at start and the one a fresh MQTT
  // connection triggers) once shared `status.json.<pid>.tmp`, and the second rename hit ENOENT.
  writes += 1;
  const tmp = `${path}.${process.pid}.${writes}.tmp`;
  await writeFile(tmp, `${JSON.stringify(status)}\n`);
  await rename(tmp, path);
}

/** Healthy when the status file says online and is younger than `maxAgeMs`. */
export async function checkHealth(
  dir: string,
  maxAgeMs: number,
  now = Date.now(),
): Promise<{ ok: boolean; text: string }> {
  let status: StatusMessage;
  try {
    status = StatusMessage.parse(JSON.parse(await readFile(join(dir, STATUS_FILE), "utf8")));
  } catch (err) {
    return { ok: false, text: `no readable ${STATUS_FILE} in ${dir}: ${(err as Error).message}` };
  }
  const age = status.at ? now - Date.parse(status.at) : Number.POSITIVE_INFINITY;
  if (status.state !== "online") return { ok: false, text: `agent ${status.site} is ${status.state}` };
  if (!(age <= maxAgeMs)) {
    return {
      ok: false,
      text: `last heartbeat of ${status.site} is ${Math.round(age / 1000)} s old (limit ${maxAgeMs / 1000} s)`,
    };
  }
  return {
    ok: true,
    text: `agent ${status.site} online, heartbeat ${Math.round(age / 1000)} s ago, outbox depth ${status.outbox?.depth ?? "?"}`,
  };
}
