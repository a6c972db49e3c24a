import { hostname, uptime } from "node:os";
import si from "systeminformation";

/** The heartbeat's picture of the host: enough to tell a sick probe box from a sick network. */
export interface HostFacts {
  hostname: string;
  os: { distro: string | null; release: string | null; arch: string | null };
  /** CPU busy share since the previous call, 0..100 (the first call measures over ~0.5 s). */
  cpu_load_percent: number | null;
  /** Memory in use by programs (total − available): page cache is not "used". */
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  /** Main CPU temperature; null where the host exposes none (typical for VMs). */
  temperature_c: number | null;
  uptime_s: number | null;
}

type OsFacts = HostFacts["os"];

/**
 * The OS does not change while the agent runs; reading it costs a few file reads and a process
 * spawn, so the first successful answer is kept for the life of the process (an immutable fact,
 * not state). A failed read is not cached and is tried again next heartbeat.
 */
let osFacts: Promise<OsFacts> | undefined;

/** Collect host facts through systeminformation. Never throws: a field that cannot be read is null. */
export async function collectHostFacts(): Promise<HostFacts> {
  const [load, mem, temperature, os] = await Promise.all([
    orNull(si.currentLoad()),
    orNull(si.mem()),
    orNull(si.cpuTemperature()),
    readOs(),
  ]);
  return {
    hostname: hostname(),
    os,
    cpu_load_percent: finite(load?.currentLoad),
    memory_used_bytes: finite(mem?.active),
    memory_total_bytes: finite(mem?.total),
    // systeminformation types `main` as number but gives null (or -1 on some boards) when unknown.
    temperature_c:
      temperature && finite(temperature.main) !== null && temperature.main > 0 ? temperature.main : null,
    // os.uptime(), not si.time(): si.time() also resolves the time zone through Intl, which maps ICU's
    // zone data into the process (measured +8 MiB resident, for a field the heartbeat does not send).
    uptime_s: finiteSync(() => uptime()),
  };
}

async function readOs(): Promise<OsFacts> {
  osFacts ??= si.osInfo().then((info) => ({
    distro: info.distro || null,
    release: info.release || null,
    arch: info.arch || null,
  }));
  try {
    return await osFacts;
  } catch {
    osFacts = undefined;
    return { distro: null, release: null, arch: null };
  }
}

function orNull<T>(p: Promise<T>): Promise<T | null> {
  return p.catch(() => null);
}

function finite(x: number | null | undefined): number | null {
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

function finiteSync(read: () => number): number | null {
  try {
    return finite(read());
  } catch {
    return null;
  }
}
