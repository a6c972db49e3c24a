import { readdir, readFile } from "node:fs/promises";
import { arch, cpus, hostname, uptime } from "node:os";

/**
 * The heartbeat's host facts, read straight from Linux's /proc and /sys (proc(5), sysfs thermal
 * class). Written here rather than taken from systeminformation, which gave the same five figures:
 * that library loads 23 modules (≈ 700 KiB of source) and its OS probe spawns helper processes,
 * ≈ 4.5 MiB of the agent's heap in `npm run bench:agent` (measured: 79.9 → 74.6 MiB RSS without it),
 * for three file reads and os.cpus(). The agent runs on Linux only (kernel timestamps, ping).
 */

/** The heartbeat's picture of the host: enough to tell a sick probe box from a sick network. */
export interface HostFacts {
  hostname: string;
  /** distro: /etc/os-release NAME ("Debian GNU/Linux"); release: its VERSION_ID ("12"); arch: os.arch(). */
  os: { distro: string | null; release: string | null; arch: string | null };
  /** CPU busy share since the previous call, 0..100 (the first call measures over ~0.5 s). */
  cpu_load_percent: number | null;
  /** Memory in use by programs (MemTotal − MemAvailable of /proc/meminfo): page cache is not "used". */
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  /** CPU temperature in °C from the sysfs thermal zone of the CPU; null where the host has none (VMs). */
  temperature_c: number | null;
  uptime_s: number | null;
}

type OsFacts = HostFacts["os"];

/**
 * The OS does not change while the agent runs: the first successful answer is kept for the life of
 * the process (an immutable fact, not state). A failed read is not cached and is tried again next
 * heartbeat.
 */
let osFacts: Promise<OsFacts> | undefined;

/** Collect host facts. Never throws: a field that cannot be read is null. */
export async function collectHostFacts(): Promise<HostFacts> {
  const [load, mem, temperature, os] = await Promise.all([
    cpuLoadPercent(),
    orNull(readFile("/proc/meminfo", "utf8").then(parseMeminfo)),
    orNull(cpuTemperature()),
    readOs(),
  ]);
  return {
    hostname: hostname(),
    os,
    cpu_load_percent: load,
    memory_used_bytes: mem?.used_bytes ?? null,
    memory_total_bytes: mem?.total_bytes ?? null,
    temperature_c: temperature,
    // os.uptime(), not anything that resolves the time zone through Intl: that maps ICU's zone data
    // into the process (measured +8 MiB resident), for a field the heartbeat does not send.
    uptime_s: finiteSync(() => uptime()),
  };
}

/**
 * /proc/meminfo (proc(5)): "MemTotal:  3884 kB" lines, in KiB whatever the unit says.
 * Returns bytes; null when MemTotal or MemAvailable (Linux ≥ 3.14) is missing.
 */
export function parseMeminfo(text: string): { total_bytes: number; used_bytes: number } | null {
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text);
    return m?.[1] === undefined ? null : Number(m[1]) * 1024;
  };
  const total = kib("MemTotal");
  const available = kib("MemAvailable");
  if (total === null || available === null) return null;
  return { total_bytes: total, used_bytes: total - available };
}

/** /etc/os-release (os-release(5)): NAME and VERSION_ID, quotes and backslash escapes removed. */
export function parseOsRelease(text: string): { distro: string | null; release: string | null } {
  const value = (key: string) => {
    const m = new RegExp(`^${key}=(.*)$`, "m").exec(text);
    if (m?.[1] === undefined) return null;
    const raw = m[1].trim();
    const unquoted = /^(["'])(.*)\1$/.exec(raw)?.[2] ?? raw;
    return unquoted.replace(/\\(.)/g, "$1") || null;
  };
  return { distro: value("NAME"), release: value("VERSION_ID") };
}

/** CPU times summed over all cores (os.cpus(), from /proc/stat), in ms: busy and total. */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

let lastCpu: { busy: number; total: number } | undefined;
const FIRST_SAMPLE_MS = 500;

/** Busy share of all CPUs since the previous call, 0..100; the first call samples over 0.5 s. */
async function cpuLoadPercent(): Promise<number | null> {
  try {
    if (!lastCpu) {
      lastCpu = cpuTimes();
      await new Promise((r) => setTimeout(r, FIRST_SAMPLE_MS));
    }
    const now = cpuTimes();
    const total = now.total - lastCpu.total;
    const busy = now.busy - lastCpu.busy;
    lastCpu = now;
    return total > 0 ? Math.min(100, Math.max(0, (busy / total) * 100)) : null;
  } catch {
    return null;
  }
}

/** Thermal zone types that name the CPU package (Raspberry Pi: cpu-thermal; x86: x86_pkg_temp). */
const CPU_ZONE = /cpu|soc|x86_pkg|package|core/i;
const THERMAL = "/sys/class/thermal";

/**
 * The CPU's temperature from the sysfs thermal class: the first zone whose type names the CPU, else
 * thermal_zone0; `temp` is in millidegrees Celsius. null when there is no zone (typical for VMs) or
 * the reading is not a plausible positive value.
 */
async function cpuTemperature(): Promise<number | null> {
  const zones = (await readdir(THERMAL).catch(() => [] as string[]))
    .filter((z) => z.startsWith("thermal_zone"))
    .sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)));
  if (zones.length === 0) return null;
  const types = await Promise.all(zones.map((z) => readFile(`${THERMAL}/${z}/type`, "utf8").catch(() => "")));
  const zone = zones[types.findIndex((t) => CPU_ZONE.test(t))] ?? zones[0];
  const milli = Number((await readFile(`${THERMAL}/${zone}/temp`, "utf8")).trim());
  return Number.isFinite(milli) && milli > 0 ? milli / 1000 : null;
}

async function readOs(): Promise<OsFacts> {
  osFacts ??= readFile("/etc/os-release", "utf8")
    .catch(() => readFile("/usr/lib/os-release", "utf8"))
    .then((text) => ({ ...parseOsRelease(text), arch: arch() }));
  try {
    return await osFacts;
  } catch {
    osFacts = undefined;
    return { distro: null, release: null, arch: finiteArch() };
  }
}

function finiteArch(): string | null {
  try {
    return arch();
  } catch {
    return null;
  }
}

function orNull<T>(p: Promise<T>): Promise<T | null> {
  return p.catch(() => null);
}

function finiteSync(read: () => number): number | null {
  try {
    const x = read();
    return Number.isFinite(x) ? x : null;
  } catch {
    return null;
  }
}
