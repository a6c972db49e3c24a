/**
 * One lazy loader for the FFI and the process's own C library, shared by every part that needs a
 * system call Node does not expose (the timestamped UDP socket here; clock_gettime/adjtimex in host/).
 *
 * Why koffi (3.3.4): it ships prebuilt binaries as optional packages (linux x64/arm64 glibc+musl,
 * armhf glibc), so nothing is compiled on a Pi, and a call costs ≈ 0.15 µs
 * (../../shared/notes/kernel-timestamps.md). It is imported lazily: with `npm install --omit=optional`,
 * on another OS, or when its binary does not load, `loadLibc()` resolves to null and callers fall back
 * to what Node offers (dgram, Date.now) and say so in their results.
 *
 * Usage (any thread; each worker_thread loads its own copy):
 * ```ts
 * const c = await loadLibc();
 * if (c) { const getpid = c.func("int getpid()"); getpid(); }
 * ```
 * `func` caches by declaration, so two modules binding the same prototype share one binding.
 */
import type * as KoffiModule from "koffi";

export type Koffi = typeof KoffiModule;
export type CFunction = (...args: unknown[]) => unknown;

export interface Libc {
  koffi: Koffi;
  /** Bind a libc function from a C declaration, e.g. `"int close(int fd)"`; cached per declaration. */
  func(declaration: string): CFunction;
  /** errno of the last call made through koffi on this thread; read it right after the call. */
  errno(): number;
}

let loading: Promise<Libc | null> | undefined;
let loaded: Libc | null | undefined;
let reason: string | undefined;

/**
 * The FFI and libc, or null when they cannot be had here (not Linux, koffi not installed or its
 * binary missing). Never throws; the first call does the work, later calls share it.
 */
export function loadLibc(): Promise<Libc | null> {
  loading ??= doLoad().then((c) => {
    loaded = c;
    return c;
  });
  return loading;
}

/** The result of an earlier `loadLibc()`, synchronously: undefined = not tried yet. */
export function loadedLibc(): Libc | null | undefined {
  return loaded;
}

/** Why `loadLibc()` gave null (for a log line), or undefined if it did not. */
export function libcUnavailableReason(): string | undefined {
  return reason;
}

async function doLoad(): Promise<Libc | null> {
  // The constants and struct layouts callers use are Linux's; another kernel gets the fallbacks.
  if (process.platform !== "linux") {
    reason = `platform ${process.platform} is not linux`;
    return null;
  }
  try {
    const mod = (await import("koffi")) as unknown as { default?: Koffi } & Koffi;
    const koffi: Koffi = mod.default ?? mod;
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
