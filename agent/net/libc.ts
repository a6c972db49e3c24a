import { createRequire } from "node:module";
import type * as KoffiModule from "koffi";

/**
 * The one loader for the FFI and the process's own C library, shared by every part that needs a
 * system call Node does not expose: the kernel-timestamped UDP socket (net/), clock_gettime and
 * adjtimex (host/libc-time.ts), the reflector's worker thread.
 *
 * Why koffi (3.3.4): it ships prebuilt binaries as optional packages (linux x64/arm64 glibc+musl,
 * armhf glibc), so nothing is compiled on a Pi, and a call costs ≈ 0.15 µs
 * (../../shared/notes/kernel-timestamps.md). It is loaded lazily, on the first call of `libc()`,
 * never at import time (an agent that never needs it never pays its memory). With
 * `npm install --omit=optional`, on another OS, when its binary does not load, or when the switch
 * below says so, `libc()` is null and every caller falls back to what Node offers (dgram sockets,
 * the slewed performance clock, timedatectl/chronyc) and says so in its results
 * (`quality.timestamps: "user"`, clock source "performance").
 *
 * The switch: `QOSPROBE_TIMESTAMPS=user` runs everything as on a host without koffi (CI runs the
 * STAMP tests both ways). `QOSPROBE_NO_FFI=1` is its older name, still honoured.
 *
 * Usage (any thread; each worker_thread loads its own copy):
 * ```ts
 * const c = libc();
 * if (c) { const getpid = c.func("int getpid()"); getpid(); }
 * ```
 * `func` caches by declaration, so two modules binding the same prototype share one binding.
 */
export type Koffi = typeof KoffiModule;
export type CFunction = (...args: unknown[]) => unknown;

export interface Libc {
  koffi: Koffi;
  /** Bind a libc function from a C declaration, e.g. `"int close(int fd)"`; cached per declaration. */
  func(declaration: string): CFunction;
  /** errno of the last call made through koffi on this thread; read it right after the call. */
  errno(): number;
}

/** The values QOSPROBE_TIMESTAMPS takes: kernel (the default, where koffi loads) or user. */
const TIMESTAMP_MODES = ["kernel", "user"];

/**
 * A message for a QOSPROBE_TIMESTAMPS value that is neither mode, or undefined. A typo must not fall
 * silently into kernel mode: the operator meant something else.
 */
export function timestampsSwitchProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.QOSPROBE_TIMESTAMPS;
  if (value === undefined || value === "" || TIMESTAMP_MODES.includes(value)) return undefined;
  return `QOSPROBE_TIMESTAMPS=${value} is not a timestamp mode\n  hint: use kernel (the default: kernel packet timestamps where the FFI loads) or user (user-space timestamps, no FFI), or unset it\n`;
}

/** True when the environment asks for no FFI at all (see the switch above). */
export function ffiDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.QOSPROBE_TIMESTAMPS === "user" || env.QOSPROBE_NO_FFI === "1";
}

let loaded: Libc | null | undefined;
let reason: string | undefined;

/**
 * The FFI and libc, or null when they cannot or must not be had here (not Linux, koffi not installed
 * or its binary missing, the switch). Synchronous and never throws; the first call does the work,
 * later calls share it.
 */
export function libc(): Libc | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** `libc()` as a promise, for callers written against the earlier asynchronous loader. */
export function loadLibc(): Promise<Libc | null> {
  return Promise.resolve(libc());
}

/** The result of an earlier `libc()`, without loading: undefined = not tried yet. */
export function loadedLibc(): Libc | null | undefined {
  return loaded;
}

/** Why `libc()` gave null (for a log line), or undefined if it did not. */
export function libcUnavailableReason(): string | undefined {
  return reason;
}

function load(): Libc | null {
  if (ffiDisabled()) {
    reason = "disabled by QOSPROBE_TIMESTAMPS=user";
    return null;
  }
  // The constants and struct layouts callers use are Linux's; another kernel gets the fallbacks.
  if (process.platform !== "linux") {
    reason = `platform ${process.platform} is not linux`;
    return null;
  }
  try {
    // require, not import(): synchronous, so a clock read can load it on first use. koffi is CJS.
    const koffi = createRequire(import.meta.url)("koffi") as Koffi;
    // dlopen(NULL): the symbols of the node binary and the libc it links (glibc; musl untested).
    const lib = koffi.load(null);
    const cache = new Map<string, CFunction>();
    return {
      koffi,
      func(declaration) {
        let f = cache.get(declaration);
        if (!f) {
          f = lib.func(declaration) as CFunction;
          cache.set(declaration, f);
        }
        return f;
      },
      errno: () => koffi.errno(),
    };
  } catch (err) {
    reason = `koffi unavailable: ${(err as Error).message}`;
    return null;
  }
}
