import { describe, expect, it } from "vitest";
import {
  fromTimex,
  parseChronyTracking,
  parseTimedatectl,
  type RunCommand,
  readClockSync,
  TIMESYNCD_FLAG,
} from "../../../agent/host/clock-sync.js";

/** chronyc(1) manual's example of `chronyc tracking` on a synchronised client. */
const CHRONY_SYNCED = `Reference ID    : CB00710F (203.0.113.15)
Stratum         : 3
Ref time (UTC)  : Fri Jan 27 09:49:17 2017
System time     : 0.000006523 seconds slow of NTP time
Last offset     : -0.000006747 seconds
RMS offset      : 0.000035822 seconds
Frequency       : 3.225 ppm slow
Residual freq   : -0.000 ppm
Skew            : 0.129 ppm
Root delay      : 0.013639022 seconds
Root dispersion : 0.001100737 seconds
Update interval : 64.2 seconds
Leap status     : Normal
`;

/** chronyd started, no source reachable yet. */
const CHRONY_UNSYNCED = `Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
System time     : 0.000000000 seconds fast of NTP time
Last offset     : +0.000000000 seconds
RMS offset      : 0.000000000 seconds
Frequency       : 0.000 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.000 ppm
Root delay      : 1.000000000 seconds
Root dispersion : 1.000000000 seconds
Update interval : 0.0 seconds
Leap status     : Not synchronised
`;

/** Fake command runner: answers from a table, null (missing/failed) for anything else. */
function runner(answers: Record<string, string>): { run: RunCommand; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (file, args) => {
      const key = [file, ...args].join(" ");
      calls.push(key);
      return answers[key] ?? null;
    },
  };
}

const TIMEDATECTL = "timedatectl show -p NTPSynchronized --value";
const CHRONYC = "chronyc -n tracking";
const nothing = async () => false;

describe("clock-sync parsers", () => {
  it("reads timedatectl's yes/no", () => {
    expect(parseTimedatectl("yes\n")).toBe(true);
    expect(parseTimedatectl("no\n")).toBe(false);
    expect(parseTimedatectl("")).toBeNull();
    expect(parseTimedatectl(null)).toBeNull();
  });

  it("reads chrony's leap status and error bound", () => {
    // |0.000006523| + 0.001100737 + 0.013639022 / 2 = 0.007926771 s = 7.926771 ms
    expect(parseChronyTracking(CHRONY_SYNCED)).toEqual({ synced: true, max_error_ms: 7.926771 });
    expect(parseChronyTracking(CHRONY_UNSYNCED)).toEqual({ synced: false });
    expect(parseChronyTracking("506 Cannot talk to daemon\n")).toBeNull();
  });
});

/** The command-based fallback, as on a host where the FFI cannot load. */
const noFfi = { adjtimex: null, latch: { syncedOnce: false } } as const;

describe("adjtimex", () => {
  it("is synced without STA_UNSYNC, and gives maxerror/esterror in ms", () => {
    // chronyd running: TIME_OK (0), status STA_PLL (0x0001), maxerror 1500 µs, esterror 250 µs.
    expect(fromTimex({ state: 0, status: 0x0001, maxerror_us: 1500, esterror_us: 250 })).toEqual({
      synced: true,
      source: "adjtimex",
      max_error_ms: 1.5,
      est_error_ms: 0.25,
    });
  });

  it("is unsynced with STA_UNSYNC (0x40) or TIME_ERROR (5)", () => {
    // A container or a Pi at boot: TIME_ERROR, STA_UNSYNC, maxerror at the kernel's 16 s cap.
    expect(
      fromTimex({ state: 5, status: 0x40, maxerror_us: 16_000_000, esterror_us: 16_000_000 }).synced,
    ).toBe(false);
    expect(fromTimex({ state: 5, status: 0x01, maxerror_us: 100, esterror_us: 100 }).synced).toBe(false);
    expect(fromTimex({ state: 0, status: 0x41, maxerror_us: 100, esterror_us: 100 }).synced).toBe(false);
  });

  it("comes first, spawns nothing, and remembers a sync since boot", async () => {
    const { run, calls } = runner({ [TIMEDATECTL]: "no\n" });
    const latch = { syncedOnce: false };
    let status = 0x40;
    const adjtimex = () => ({
      state: status ? 5 : 0,
      status,
      maxerror_us: 16_000_000,
      esterror_us: 16_000_000,
    });
    // Never synced since boot: clock-unsynced.
    expect(await readClockSync({ env: {}, run, exists: nothing, adjtimex, latch })).toMatchObject({
      synced: false,
      synced_once: false,
      source: "adjtimex",
    });
    status = 0;
    expect(await readClockSync({ env: {}, run, exists: nothing, adjtimex, latch })).toMatchObject({
      synced: true,
      synced_once: true,
    });
    // The daemon stopped and the kernel gave up on it: unsynced now, but synchronised once.
    status = 0x40;
    expect(await readClockSync({ env: {}, run, exists: nothing, adjtimex, latch })).toMatchObject({
      synced: false,
      synced_once: true,
    });
    expect(calls).toEqual([]);
  });

  it("takes the timesyncd flag file (removed at boot) as synced-once when the agent started later", async () => {
    const adjtimex = () => ({ state: 5, status: 0x40, maxerror_us: 16_000_000, esterror_us: 16_000_000 });
    const state = await readClockSync({
      env: {},
      exists: async () => true,
      adjtimex,
      latch: { syncedOnce: false },
    });
    expect(state).toMatchObject({ synced: false, synced_once: true, source: "adjtimex" });
  });
});

describe("readClockSync", () => {
  it("lets the lab override win, as 'assumed'", async () => {
    const { run, calls } = runner({ [TIMEDATECTL]: "no\n" });
    expect(await readClockSync({ env: { QOSPROBE_CLOCK_SYNCED: "1" }, run, exists: nothing })).toEqual({
      synced: true,
      synced_once: true,
      source: "assumed",
    });
    expect(await readClockSync({ env: { QOSPROBE_CLOCK_SYNCED: "0" }, run, exists: nothing })).toEqual({
      synced: false,
      synced_once: false,
      source: "assumed",
    });
    expect(calls).toEqual([]);
  });

  it("without the FFI asks timedatectl first, then chrony, then the timesyncd flag", async () => {
    const first = runner({ [TIMEDATECTL]: "yes\n", [CHRONYC]: CHRONY_UNSYNCED });
    expect(await readClockSync({ env: {}, run: first.run, exists: nothing, ...noFfi })).toEqual({
      synced: true,
      synced_once: true,
      source: "timedatectl",
    });
    expect(first.calls).toEqual([TIMEDATECTL]);

    const second = runner({ [CHRONYC]: CHRONY_SYNCED });
    expect(await readClockSync({ env: {}, run: second.run, exists: nothing, ...noFfi })).toEqual({
      synced: true,
      synced_once: true,
      source: "chrony",
      max_error_ms: 7.926771,
    });

    const seen: string[] = [];
    const flag = async (path: string) => {
      seen.push(path);
      return true;
    };
    expect(await readClockSync({ env: {}, run: runner({}).run, exists: flag, ...noFfi })).toEqual({
      synced: true,
      synced_once: true,
      source: "timesyncd",
    });
    expect(seen).toEqual([TIMESYNCD_FLAG]);
  });

  it("says unknown when nothing answers, and never throws", async () => {
    expect(
      await readClockSync({
        env: {},
        run: runner({}).run,
        exists: nothing,
        ...noFfi,
        latch: { syncedOnce: false },
      }),
    ).toEqual({ synced: false, synced_once: false, source: "unknown" });
    const broken: RunCommand = async () => {
      throw new Error("boom");
    };
    expect(
      await readClockSync({
        env: {},
        run: broken,
        exists: nothing,
        adjtimex: null,
        latch: { syncedOnce: false },
      }),
    ).toEqual({ synced: false, synced_once: false, source: "unknown" });
  });

  it("answers on this machine from the kernel (adjtimex), without timedatectl", async () => {
    const calls: string[] = [];
    const state = await readClockSync({
      env: {},
      run: async (file) => {
        calls.push(file);
        return null;
      },
    });
    expect(state.source).toBe("adjtimex");
    expect(typeof state.synced).toBe("boolean");
    expect(state.max_error_ms).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual([]);
  });
});
