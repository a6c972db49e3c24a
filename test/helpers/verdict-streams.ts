import { ResultMessage } from "../../agent/publish/message.js";
import { buildResult } from "../../scripts/lab/result-factory.js";

/**
 * Crafted result streams for the verdict rules (issue 9), shared by the pure tests (windows.ts's twin)
 * and the store tests (the SQL on PostgreSQL and PGlite), so both paths are held to the same numbers.
 * Every stream is one test id of operator "op-v" from bj-01 to gz-01 over the hour [T0, T0 + 1 h):
 * 12 five-minute windows.
 */

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 2, 2);
export const HOUR_RANGE = { from_ms: T0, to_ms: T0 + 60 * MIN };

export interface IntervalInput {
  test: string;
  start_ms: number;
  dur_ms?: number;
  sent?: number;
  received?: number;
  rtt?: number | null;
  dv?: number | null;
  basis?: "round-trip" | "one-way-forward" | "one-way-reverse";
  flags?: string[];
  status?: "ok" | "error" | "fault";
  error?: { code: string; message: string };
  /** Synced forward one-way mean. */
  fwd?: number;
  packet_size?: number;
  operator?: string;
}

export function interval(i: IntervalInput): ResultMessage {
  const sent = i.sent ?? 100;
  const received = i.received ?? sent;
  const base = buildResult({
    operator: i.operator ?? "op-v",
    testId: i.test,
    intervalStart: new Date(i.start_ms).toISOString(),
    sent,
    received,
  });
  const rtt = i.rtt === undefined ? (received > 0 ? 40 : null) : i.rtt;
  const dv = i.dv === undefined ? (received >= 2 ? 10 : received === 1 ? 0 : null) : i.dv;
  const msg = {
    ...base,
    status: i.status ?? "ok",
    ...(i.error ? { error: i.error } : {}),
    test: { ...base.test, packet_size_bytes: i.packet_size ?? 128 },
    interval: { start: base.interval.start, end: new Date(i.start_ms + (i.dur_ms ?? 5 * MIN)).toISOString() },
    rtt_ms: {
      min: rtt,
      mean: rtt,
      median: rtt,
      p95: rtt,
      p99: rtt,
      max: rtt,
      stddev: rtt === null ? null : 0,
    },
    delay_variation_ms: { ...base.delay_variation_ms, max_minus_min: dv, basis: i.basis ?? "round-trip" },
    one_way_ms:
      i.fwd === undefined
        ? null
        : {
            forward: { min: i.fwd, mean: i.fwd, max: i.fwd, max_minus_min: 0 },
            reverse: { min: i.fwd, mean: i.fwd, max: i.fwd, max_minus_min: 0 },
            clock_synced: true,
          },
    quality: { ...base.quality, flags: i.flags ?? [] },
  };
  return ResultMessage.parse(msg);
}

/** 12 five-minute intervals of `test` from T0, each shaped by `each(k)`. */
function hour(test: string, each: (k: number) => Partial<IntervalInput> | null): ResultMessage[] {
  return Array.from({ length: 12 }, (_, k) => {
    const over = each(k);
    return over === null ? null : interval({ test, start_ms: T0 + k * 5 * MIN, ...over });
  }).filter((r): r is ResultMessage => r !== null);
}

/**
 * The route is lost at 00:32: one-minute intervals, 60 sent each; from 00:32 every packet is lost
 * (sent-and-lost: an outage, not a gap). Windows 0–5 clean; window 6 (00:30–00:35) has 2 good and 3
 * lost minutes: 180 / 300 = 60 % ≤ 75 % → available; windows 7–11 lose everything → unavailable.
 */
export const routeLost: ResultMessage[] = Array.from({ length: 60 }, (_, m) =>
  interval({
    test: "route-lost",
    start_ms: T0 + m * MIN,
    dur_ms: MIN,
    sent: 60,
    received: m < 32 ? 60 : 0,
    flags: m < 32 ? [] : ["send-error"],
  }),
);

/** Windows 0–5 measured cleanly; 6–11 only faults (reflector HMAC mismatch): not path loss. */
export const keyMismatch: ResultMessage[] = hour("key-mismatch", (k) =>
  k < 6
    ? {}
    : {
        status: "fault",
        sent: 100,
        received: 0,
        rtt: null,
        dv: null,
        error: { code: "STAMP_HMAC", message: `HMAC mismatch from 198.51.100.7 (${k})` },
      },
);

/** Every interval a fault: the reflector answers ICMP port unreachable. */
export const refusedPort: ResultMessage[] = hour("refused-port", () => ({
  status: "fault",
  sent: 0,
  received: 0,
  rtt: null,
  dv: null,
  error: { code: "PORT_UNREACHABLE", message: "ICMP port unreachable from 198.51.100.7:862" },
}));

/** 11 intervals with DV 10 ms; the one at window 4 received 1 packet (DV 0 must not count). */
export const onePacket: ResultMessage[] = hour("one-packet", (k) => (k === 4 ? { received: 1 } : {}));

/** Every window loses exactly 75 of 100 (available), except window 11 losing 76 (unavailable). */
export const loss75: ResultMessage[] = hour("loss-75", (k) => ({ received: k === 11 ? 24 : 25 }));

/**
 * Window 0 probed for exactly half its time (150 s: measured); window 1 for 149 s (unmeasured);
 * windows 2–11 fully. Coverage 11 / 12 = 91.7 %: just over the 90 % floor.
 */
export const halfMeasured: ResultMessage[] = hour("half", (k) =>
  k === 0 ? { dur_ms: 150_000 } : k === 1 ? { dur_ms: 149_000 } : {},
);

/** 10 of 12 windows measured: coverage 83.3 %, just under the floor → insufficient. */
export const underFloor: ResultMessage[] = hour("under-floor", (k) => (k < 10 ? {} : null));

/**
 * Flags: window 0 aborted (RTT 500), window 1 host-timing (RTT 500), window 2 rtt-below-light-bound
 * (RTT 1), window 3 clock-unsynced (RTT 40, counts; its one-way figures do not). Clean RTT mean 40.
 */
export const flagged: ResultMessage[] = hour("flagged", (k) =>
  k === 0
    ? { flags: ["aborted"], rtt: 500 }
    : k === 1
      ? { flags: ["host-timing"], rtt: 500, dv: 300 }
      : k === 2
        ? { flags: ["rtt-below-light-bound"], rtt: 1 }
        : k === 3
          ? { flags: ["clock-unsynced"] }
          : {},
);

/** Windows 0–5 round-trip DV 10 ms, 6–11 one-way forward DV 50 ms: two figures, never one of 30. */
export const dvMixed: ResultMessage[] = hour("dv-mixed", (k) =>
  k < 6 ? { dv: 10 } : { dv: 50, basis: "one-way-forward", fwd: 20 },
);

/** Two packet sizes on one test id: two rollup rows. */
export const twoSizes: ResultMessage[] = [
  ...hour("sizes", () => ({ packet_size: 128 })),
  ...hour("sizes", () => ({ packet_size: 1400, rtt: 60 })).map((r) => ({
    ...r,
    // The claim key is (site, test, interval start): the second size starts a second later.
    interval: {
      start: new Date(Date.parse(r.interval.start) + 1000).toISOString(),
      end: r.interval.end,
    },
  })),
];

/**
 * Intervals that run past their first window: 5 minutes from 2.5 minutes into each window (half of
 * two windows each), and one of 12 minutes from 00:01 (four windows). Their probed time is split over
 * every window they overlap; the store's SQL takes another branch for them than for intervals inside
 * one window.
 */
export const straddle: ResultMessage[] = [
  ...hour("straddle", (k) => (k < 11 ? { start_ms: T0 + k * 5 * MIN + 150_000, received: 90 } : null)),
  interval({ test: "straddle-long", start_ms: T0 + MIN, dur_ms: 12 * MIN, received: 50 }),
];

export const allStreams: ResultMessage[] = [
  ...straddle,
  ...routeLost,
  ...keyMismatch,
  ...refusedPort,
  ...onePacket,
  ...loss75,
  ...halfMeasured,
  ...underFloor,
  ...flagged,
  ...dvMixed,
  ...twoSizes,
];

/** 2026-10-31T16:30Z is 2026-11-01 00:30 in Beijing: November's, not October's. */
export const monthBoundary: ResultMessage[] = [
  interval({ test: "month-edge", start_ms: Date.parse("2026-10-31T16:30:00Z"), operator: "op-m" }),
  interval({ test: "month-edge", start_ms: Date.parse("2026-10-31T15:55:00Z"), operator: "op-m" }),
];
