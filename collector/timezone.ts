import { QosProbeError } from "../agent/errors.js";

/**
 * Civil time in one IANA zone (the regulator's: a month is a calendar month in China Standard Time
 * unless configured otherwise, SPEC "Periods are the regulator's"). Built on Intl (Node's ICU tzdata)
 * because Date only knows UTC and the host zone; no dependency needed for three conversions.
 * PostgreSQL has its own tzdata: the store's buckets come from here and are passed in as bounds, so the
 * two can never cut a day differently.
 */

export const DEFAULT_TIMEZONE = "Asia/Shanghai";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True when Node knows the IANA zone name (e.g. "Asia/Shanghai", "UTC"). */
export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

export function checkTimeZone(zone: string): string {
  if (!isTimeZone(zone)) {
    throw new QosProbeError("USAGE", `unknown time zone "${zone}"`, {
      hint: "use an IANA name such as Asia/Shanghai or UTC",
    });
  }
  return zone;
}

export interface CivilTime {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * Recent civil() answers per zone: a report prints the same few bucket edges thousands of times (300
 * pairs × 31 days), and formatToParts costs ~10 µs a call. Bounded: cleared when it grows past 4,096.
 */
const civilCache = new Map<string, Map<number, CivilTime>>();

/** The wall-clock fields of instant `ms` in `zone`. */
export function civil(ms: number, zone: string): CivilTime {
  let byMs = civilCache.get(zone);
  if (!byMs) {
    byMs = new Map();
    civilCache.set(zone, byMs);
  }
  const hit = byMs.get(ms);
  if (hit) return { ...hit };
  if (byMs.size >= 4096) byMs.clear();
  const c = civilUncached(ms, zone);
  byMs.set(ms, c);
  return { ...c };
}

function civilUncached(ms: number, zone: string): CivilTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(ms)) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

/** The zone's offset from UTC at instant `ms`, in minutes (Asia/Shanghai: +480). */
export function offsetMinutes(ms: number, zone: string): number {
  const c = civil(ms, zone);
  const asUtc = Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000);
}

/**
 * The instant at which the wall clock in `zone` reads the given fields (month may overflow: 13 is next
 * January). In a DST gap the later instant is taken; in an overlap the earlier one.
 */
export function fromCivil(zone: string, y: number, mo: number, d = 1, h = 0, mi = 0): number {
  const naive = Date.UTC(y, mo - 1, d, h, mi);
  let t = naive - offsetMinutes(naive, zone) * 60_000;
  // A second pass settles instants near an offset change.
  t = naive - offsetMinutes(t, zone) * 60_000;
  return t;
}

export type CalendarUnit = "hour" | "day" | "month";

/** Start of the zone's hour, day or calendar month holding `ms`. */
export function unitStart(unit: CalendarUnit, ms: number, zone: string): number {
  const c = civil(ms, zone);
  if (unit === "month") return fromCivil(zone, c.year, c.month, 1);
  if (unit === "day") return fromCivil(zone, c.year, c.month, c.day);
  return fromCivil(zone, c.year, c.month, c.day, c.hour);
}

/** Start of the next hour, day or month after the one starting at `start`. */
export function nextUnitStart(unit: CalendarUnit, start: number, zone: string): number {
  const c = civil(start, zone);
  if (unit === "month") return fromCivil(zone, c.year, c.month + 1, 1);
  if (unit === "day") return fromCivil(zone, c.year, c.month, c.day + 1);
  // Hours are not always 60 minutes of wall clock apart (DST), but they are 3,600 s of real time.
  return start + 3_600_000;
}

/** "+08:00" for an offset in minutes. */
export function offsetText(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const m = Math.abs(minutes);
  return `${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** ISO 8601 with the zone's offset: "2026-11-01T00:00:00+08:00". */
export function isoInZone(ms: number, zone: string): string {
  const c = civil(ms, zone);
  return (
    `${c.year}-${pad(c.month)}-${pad(c.day)}T${pad(c.hour)}:${pad(c.minute)}:${pad(c.second)}` +
    offsetText(offsetMinutes(ms, zone))
  );
}

/** "2026-11-01 00:00 +08:00": for tables, minutes are enough, the offset never left out. */
export function shortInZone(ms: number, zone: string): string {
  const c = civil(ms, zone);
  return `${c.year}-${pad(c.month)}-${pad(c.day)} ${pad(c.hour)}:${pad(c.minute)} ${offsetText(offsetMinutes(ms, zone))}`;
}
