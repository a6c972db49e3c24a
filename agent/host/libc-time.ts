import { type Koffi, libc } from "../net/libc.js";

/**
 * The two libc time calls the agent needs, through koffi: clock_gettime(CLOCK_REALTIME) and adjtimex(2).
 *
 * Why koffi: Node has no binding for either (Date.now() is whole milliseconds; process.hrtime is
 * monotonic), and koffi ships prebuilt binaries for linux x64, arm64 and armhf, so nothing is compiled
 * on a Pi (../shared/notes/kernel-timestamps.md). It comes from the one loader (net/libc.ts), lazily on
 * first use, and may be absent (`npm ci --omit=optional`, another OS, QOSPROBE_TIMESTAMPS=user): every
 * function here then returns null and callers fall back.
 *
 * Both calls use the plain glibc symbols, whose `long`/`time_t` are the native word: 8 bytes on x64
 * and arm64, 4 on armhf (32-bit time_t there until 2038). Layouts are derived with koffi.struct, never
 * hard-coded offsets. Only x64 was run here.
 */

/** CLOCK_REALTIME (linux/time.h). */
const CLOCK_REALTIME = 0;

/** adjtimex status bit: the kernel clock is not synchronised (linux/timex.h). */
export const STA_UNSYNC = 0x0040;
/** adjtimex return value: clock not synchronised (TIME_ERROR, linux/timex.h). */
export const TIME_ERROR = 5;

/** What adjtimex(2) reports with modes = 0 (a read, no privilege needed). Times in microseconds. */
export interface Timex {
  /** Return value: TIME_OK 0, TIME_INS 1, TIME_DEL 2, TIME_OOP 3, TIME_WAIT 4, TIME_ERROR 5. */
  state: number;
  status: number;
  /** Maximum error, µs: grows by 500 ppm between updates from the time daemon; 16 s means unsynced. */
  maxerror_us: number;
  /** Estimated error, µs, as the time daemon last set it. */
  esterror_us: number;
}

interface LibcTime {
  realtimeMs(): number;
  adjtimex(): Timex;
}

let loaded: LibcTime | null | undefined;

/** The binding, loaded on first use; null when koffi or the symbols are not available here. */
export function libcTime(): LibcTime | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const c = libc();
  if (!c) return loaded;
  try {
    loaded = bind(c.koffi, (decl) => c.func(decl) as (...args: unknown[]) => number);
  } catch {
    loaded = null;
  }
  return loaded;
}

function bind(koffi: Koffi, func: (declaration: string) => (...args: unknown[]) => number): LibcTime {
  // Anonymous structs: a named one would clash with another module's binding of the same name.
  const timeval = koffi.struct({ tv_sec: "long", tv_usec: "long" });
  // struct timex as glibc declares it (sys/timex.h), trailing padding included: the kernel writes
  // the whole struct, so a short buffer would be overrun.
  const timex = koffi.struct({
    modes: "uint",
    offset: "long",
    freq: "long",
    maxerror: "long",
    esterror: "long",
    status: "int",
    constant: "long",
    precision: "long",
    tolerance: "long",
    time: timeval,
    tick: "long",
    ppsfreq: "long",
    jitter: "long",
    shift: "int",
    stabil: "long",
    jitcnt: "long",
    calcnt: "long",
    errcnt: "long",
    stbcnt: "long",
    tai: "int",
    pad: koffi.array("int", 11),
  });
  const clockGettime = func("int clock_gettime(int clk, void *ts)");
  const adjtimex = func("int adjtimex(void *buf)");

  const longBytes = koffi.sizeof("long");
  const readLong = (buf: Buffer, off: number): number =>
    longBytes === 8 ? buf.readInt32LE(off + 4) * 2 ** 32 + buf.readUInt32LE(off) : buf.readInt32LE(off);
  // One buffer per call site, reused: no allocation on the timestamp path.
  const ts = Buffer.alloc(2 * longBytes);
  const tx = Buffer.alloc(koffi.sizeof(timex));
  const at = (member: string) => koffi.offsetof(timex, member);
  const off = { status: at("status"), maxerror: at("maxerror"), esterror: at("esterror") };

  const binding: LibcTime = {
    realtimeMs() {
      if (clockGettime(CLOCK_REALTIME, ts) !== 0) throw new Error("clock_gettime(CLOCK_REALTIME) failed");
      return readLong(ts, 0) * 1000 + readLong(ts, longBytes) / 1e6;
    },
    adjtimex() {
      tx.fill(0); // modes = 0: read only
      const state = adjtimex(tx);
      if (state < 0) throw new Error("adjtimex failed");
      return {
        state,
        status: tx.readInt32LE(off.status),
        maxerror_us: readLong(tx, off.maxerror),
        esterror_us: readLong(tx, off.esterror),
      };
    },
  };
  // Fail at load, not on the first timestamp: a symbol that does not answer means no binding.
  binding.realtimeMs();
  binding.adjtimex();
  return binding;
}
