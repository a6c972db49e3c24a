import { InvalidArgumentError } from "commander";

/**
 * Flag parsers of the `qos-probe` command, apart from cli.ts so they can be unit-tested (cli.ts
 * parses process.argv when imported). Each throws commander's InvalidArgumentError: commander prints
 * "error: option '…' argument '…' is invalid. <our message>" and the CLI exits 2.
 */

export function int(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** A number ≥ 0 (0 meaning "off" / "no limit", as the option's help says). */
export function nonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0 (0 = off), got "${value}"`);
  return n;
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration with an optional unit suffix — "20ms", "1.5s", "2m", "1h", "1d" — or a bare number in `bare` units
 * (the option's historical unit, so existing scripts keep working). Returns milliseconds, or seconds
 * when `out` is "s". `allowZero`: 0 is a valid value (help says "0 = never").
 */
export function duration(bare: "ms" | "s", opts: { out?: "ms" | "s"; allowZero?: boolean } = {}) {
  return (value: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?\s*$/.exec(value);
    const ms = m ? Number(m[1]) * UNIT_MS[(m[2] as keyof typeof UNIT_MS | undefined) ?? bare] : Number.NaN;
    if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !opts.allowZero)) {
      throw new InvalidArgumentError(
        `expected a ${opts.allowZero ? "" : "positive "}duration like 20ms, 1.5s, 2m or 1h (a bare number is ${bare === "ms" ? "milliseconds" : "seconds"}), got "${value}"`,
      );
    }
    return opts.out === "s" ? ms / 1000 : ms;
  };
}

/** Exit status of the CLI for an error: 2 for usage (bad flags, bad target), 1 for anything else. */
export function exitCodeFor(err: { code?: string }): 1 | 2 {
  const code = err.code ?? "";
  return code === "USAGE" || code === "PROBE_TARGET" || code.startsWith("commander.") ? 2 : 1;
}

/** The error as one JSON line for `--json` callers (scripts read stdout, not a stack trace). */
export function jsonError(err: { code?: string; message: string; hint?: string | undefined }): string {
  return JSON.stringify({
    error: { code: err.code ?? "ERROR", message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
  });
}
