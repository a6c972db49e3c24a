import type { Method } from "../../agent/probe/prober.js";
import { type ProfileId, ResultMessage } from "../../agent/publish/message.js";
import { makeResult } from "./result-factory.js";

/**
 * Result messages shaped for rollup arithmetic: any interval length, any sent/lost split, error
 * results, diagnostic runs, raw targets, other profiles. makeResult fixes the interval at 60 s and the
 * delay variation at 12 ms, which rollup fixtures need to vary, so this builds on it and overrides.
 */
export interface RollupFixtureInput {
  operator?: string;
  site?: string;
  province?: string;
  /** Peer site; null makes a raw-target test (no peer block). */
  peer?: { site: string; province: string } | null;
  target?: string;
  method?: Method;
  profile?: ProfileId;
  distance_km?: number;
  start_ms: number;
  duration_ms?: number;
  sent?: number;
  lost?: number;
  /** Per-interval mean RTT; null = nothing received to time. */
  rtt_mean_ms?: number | null;
  dv_ms?: number | null;
  dv_basis?: ResultMessage["delay_variation_ms"]["basis"];
  /** Synced forward one-way mean; absent = no one-way block. */
  forward_ms?: number;
  status?: "ok" | "error";
  diagnostic?: boolean;
}

export function rollupResult(input: RollupFixtureInput): ResultMessage {
  const base = makeResult();
  const sent = input.sent ?? 100;
  const lost = input.lost ?? 0;
  const rtt = input.rtt_mean_ms === undefined ? 40 : input.rtt_mean_ms;
  const start = new Date(input.start_ms).toISOString();
  const end = new Date(input.start_ms + (input.duration_ms ?? 60_000)).toISOString();
  const peer = input.peer === undefined ? { site: "gz-01", province: "GD" } : input.peer;
  const test: ResultMessage["test"] = {
    ...base.test,
    method: input.method ?? "stamp",
    target: input.target ?? base.test.target,
    diagnostic: input.diagnostic ?? false,
  };
  if (peer) test.peer = peer;
  else delete test.peer;
  if (input.distance_km !== undefined) test.distance_km = input.distance_km;
  const forward = input.forward_ms;
  const message: ResultMessage = {
    ...base,
    status: input.status ?? "ok",
    ...(input.status === "error" ? { error: { code: "PROBE_SETUP", message: "reflector unreachable" } } : {}),
    agent: {
      ...base.agent,
      operator: input.operator ?? "op-a",
      site: input.site ?? "bj-01",
      province: input.province ?? "BJ",
    },
    test,
    interval: { start, end },
    packets: { sent, received: sent - lost, lost, duplicates: 0, reordered: 0, late: 0 },
    loss_ratio: sent === 0 ? null : lost / sent,
    rtt_ms: {
      min: rtt,
      mean: rtt,
      median: rtt,
      p95: rtt,
      p99: rtt,
      max: rtt,
      stddev: rtt === null ? null : 0,
    },
    delay_variation_ms: {
      ...base.delay_variation_ms,
      max_minus_min: input.dv_ms === undefined ? 10 : input.dv_ms,
      basis: input.dv_basis ?? "round-trip",
    },
    one_way_ms:
      forward === undefined
        ? null
        : {
            forward: { min: forward, mean: forward, max: forward, max_minus_min: 0 },
            reverse: { min: forward, mean: forward, max: forward, max_minus_min: 0 },
            clock_synced: true,
          },
    verdicts: { ...base.verdicts, profile: input.profile ?? "internet-3.2.2" },
  };
  return ResultMessage.parse(message);
}

/** 2026-03-02T00:00:00Z, the start of the report fixture's hour. */
export const REPORT_T0 = Date.UTC(2026, 2, 2);
const FIVE_MIN = 300_000;

/**
 * One hour of one operator: 12 five-minute STAMP intervals per pair, each 100 sent / 1 lost, DV 10 ms.
 * bj-01 (Beijing) → gz-01 (Guangdong): RTT 40 ms, everything passes.
 * bj-01 → xj-01 (Xinjiang): RTT 250 ms > 200, so the delay verdict fails; the rest passes.
 */
export function reportFixture(overrides: { operator?: string; site?: string } = {}): ResultMessage[] {
  const pairs = [
    { peer: { site: "gz-01", province: "440000" }, rtt: 40, distance_km: 1890.4 },
    { peer: { site: "xj-01", province: "650000" }, rtt: 250, distance_km: 2400 },
  ];
  return pairs.flatMap((p) =>
    Array.from({ length: 12 }, (_, i) =>
      rollupResult({
        operator: overrides.operator ?? "op-a",
        site: overrides.site ?? "bj-01",
        province: "110000",
        peer: p.peer,
        distance_km: p.distance_km,
        start_ms: REPORT_T0 + i * FIVE_MIN,
        duration_ms: FIVE_MIN,
        sent: 100,
        lost: 1,
        rtt_mean_ms: p.rtt,
        dv_ms: 10,
      }),
    ),
  );
}
