import { describe, expect, it } from "vitest";
import {
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

describe("readClockSync", () => {
  it("lets the lab override win, as 'assumed'", async () => {
    const { run, calls } = runner({ [TIMEDATECTL]: "no\n" });
    expect(await readClockSync({ env: { QOSPROBE_CLOCK_SYNCED: "1" }, run, exists: nothing })).toEqual({
      synced: true,
      source: "assumed",
    });
    expect(await readClockSync({ env: { QOSPROBE_CLOCK_SYNCED: "0" }, run, exists: nothing })).toEqual({
      synced: false,
      source: "assumed",
    });
    expect(calls).toEqual([]);
  });

  it("asks timedatectl first, then chrony, then the timesyncd flag", async () => {
    const first = runner({ [TIMEDATECTL]: "yes\n", [CHRONYC]: CHRONY_UNSYNCED });
    expect(await readClockSync({ env: {}, run: first.run, exists: nothing })).toEqual({
      synced: true,
      source: "timedatectl",
    });
    expect(first.calls).toEqual([TIMEDATECTL]);

    const second = runner({ [CHRONYC]: CHRONY_SYNCED });
    expect(await readClockSync({ env: {}, run: second.run, exists: nothing })).toEqual({
      synced: true,
      source: "chrony",
      max_error_ms: 7.926771,
    });

    const seen: string[] = [];
    const flag = async (path: string) => {
      seen.push(path);
      return true;
    };
    expect(await readClockSync({ env: {}, run: runner({}).run, exists: flag })).toEqual({
      synced: true,
      source: "timesyncd",
    });
    expect(seen).toEqual([TIMESYNCD_FLAG]);
  });

  it("says unknown when nothing answers, and never throws", async () => {
    expect(await readClockSync({ env: {}, run: runner({}).run, exists: nothing })).toEqual({
      synced: false,
      source: "unknown",
    });
    const broken: RunCommand = async () => {
      throw new Error("boom");
    };
    expect(await readClockSync({ env: {}, run: broken, exists: nothing })).toEqual({
      synced: false,
      source: "unknown",
    });
  });

  it("answers on this machine with the real commands", async () => {
    const state = await readClockSync({ env: {} });
    expect(typeof state.synced).toBe("boolean");
    expect(["timedatectl", "chrony", "timesyncd", "unknown"]).toContain(state.source);
  });
});
