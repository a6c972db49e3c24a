import { errnoReason } from "../probe/net-errors.js";
import type { Sample } from "../probe/prober.js";
import type { DelayVariation, OneWay, Packets, Quality, RttStats } from "../publish/message.js";
import { delayVariation } from "./delay-variation.js";
import { type OneWayGate, oneWayGate } from "./one-way-gate.js";
import { mean, minMax, percentileNearestRank, sortedAscending, stddevPopulation } from "./stats.js";

/** The metric parts of a result message, computed from one interval's samples. */
export interface Summary {
  packets: Packets;
  loss_ratio: number | null;
  rtt_ms: RttStats;
  delay_variation_ms: DelayVariation;
  one_way_ms: OneWay | null;
  send_error_ms: Quality["send_error_ms"];
  /** Whether one-way delays were reported, and if not why (one-way-gate.ts). */
  one_way_gate: OneWayGate;
}

export interface SummarizeOptions {
  /** Packets the prober sent: it knows, the samples may not say (e.g. an aborted run). */
  sent: number;
  /** The local clock is synchronised; one-way delays are only trusted then. */
  clockSynced: boolean;
  /** Bound on |local clock − UTC|, ms (adjtimex maxerror); without it one-way delays are withheld. */
  clockErrorMs?: number | undefined;
}

/** A sample that answers "did this packet make it in time": not a duplicate, not late, has an RTT. */
export type ReceivedSample = Sample & { rtt_ms: number };

export function isReceived(s: Sample): s is ReceivedSample {
  return s.dup !== true && s.late !== true && s.rtt_ms !== null;
}

/**
 * Turn one interval's samples into the message's metric parts. Pure: no clock, no I/O.
 * Samples are one per sent packet (rtt_ms null = lost; late = arrived after the loss timeout, still
 * lost) plus extra `dup: true` samples for duplicate replies, which only feed `packets.duplicates`.
 */
export function summarize(samples: readonly Sample[], opts: SummarizeOptions): Summary {
  const firsts = samples.filter((s) => s.dup !== true);
  const received = firsts.filter(isReceived);
  // A reply whose RTT crosses a wall-clock step is received (loss is right) but its RTT is not a delay.
  const timed = received.filter((s) => s.clock_step !== true);
  const sent = opts.sent;
  // A prober that reports more replies than it sent is inconsistent; never let loss go negative.
  const lost = Math.max(0, sent - received.length);
  const gate = oneWayGate(timed, { synced: opts.clockSynced, error_bound_ms: opts.clockErrorMs });
  const lossReasons = countLossReasons(firsts);

  return {
    packets: {
      sent,
      received: received.length,
      lost,
      duplicates: samples.length - firsts.length,
      reordered: countReordered(received),
      late: firsts.filter((s) => s.late === true).length,
      ...(lossReasons ? { loss_reasons: lossReasons } : {}),
    },
    loss_ratio: sent === 0 ? null : lost / sent,
    rtt_ms: rttStats(timed.map((s) => s.rtt_ms)),
    delay_variation_ms: delayVariation(timed, gate.report),
    one_way_ms: gate.report ? oneWay(timed, gate.error_bound_ms) : null,
    send_error_ms: sendError(firsts),
    one_way_gate: gate,
  };
}

/** Lost packets with a reason the host saw at send time, by reason; undefined when there are none. */
export function countLossReasons(firsts: readonly Sample[]): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  let any = false;
  for (const s of firsts) {
    // ICMP and TCP/HTTP give a reason; the STAMP socket gives the errno of the failed send.
    const reason = s.loss_reason ?? (s.send_error === undefined ? undefined : errnoReason(s.send_error));
    if (reason === undefined || isReceived(s)) continue;
    out[reason] = (out[reason] ?? 0) + 1;
    any = true;
  }
  return any ? out : undefined;
}

/** RTT statistics; percentiles and median by nearest rank, stddev over the population (stats.ts). */
export function rttStats(rtts: readonly number[]): RttStats {
  const sorted = sortedAscending(rtts);
  const range = minMax(sorted);
  return {
    min: range?.min ?? null,
    mean: mean(sorted),
    median: percentileNearestRank(sorted, 50),
    p95: percentileNearestRank(sorted, 95),
    p99: percentileNearestRank(sorted, 99),
    max: range?.max ?? null,
    stddev: stddevPopulation(sorted),
  };
}

/**
 * RFC 4737 §3.3 reordering: walking replies in arrival order with NextExp = highest sequence number
 * seen so far + 1, a packet whose sequence number is below NextExp is reordered. Only the first copy
 * of a packet that arrived in time counts (duplicates and late replies are already left out).
 * Replies without an arrival index cannot be placed and are skipped.
 */
export function countReordered(received: readonly Sample[]): number {
  const arrivals = received
    .filter((s): s is Sample & { arrival: number } => s.arrival !== undefined)
    .sort((a, b) => a.arrival - b.arrival);
  let nextExp: number | null = null;
  let reordered = 0;
  for (const s of arrivals) {
    if (nextExp !== null && s.seq < nextExp) {
      reordered += 1;
    } else {
      nextExp = s.seq + 1;
    }
  }
  return reordered;
}

/**
 * One-way statistics over packets that all carry both one-way delays, so they describe the same packets
 * the RTT statistics do; null otherwise. The caller has already decided the clocks allow it
 * (one-way-gate.ts) and passes the summed clock bound, reported beside the figures.
 */
export function oneWay(received: readonly Sample[], errorBoundMs: number): OneWay | null {
  if (received.length === 0) return null;
  const fwd: number[] = [];
  const rev: number[] = [];
  for (const s of received) {
    if (s.fwd_ms === undefined || s.rev_ms === undefined) return null;
    fwd.push(s.fwd_ms);
    rev.push(s.rev_ms);
  }
  return {
    forward: oneWayStats(fwd),
    reverse: oneWayStats(rev),
    clock_synced: true,
    error_bound_ms: errorBoundMs,
  };
}

function oneWayStats(delays: readonly number[]): OneWay["forward"] {
  const range = minMax(delays);
  return {
    min: range?.min ?? null,
    mean: mean(delays),
    max: range?.max ?? null,
    // Like every delay variation, max − min needs two packets (one packet has no variation to show).
    max_minus_min: range && delays.length >= 2 ? range.max - range.min : null,
  };
}

/** How well the sender kept its schedule: one value per sent packet, duplicates excluded. */
function sendError(firsts: readonly Sample[]): Quality["send_error_ms"] {
  const errors = sortedAscending(
    firsts.flatMap((s) => (s.send_error_ms === undefined ? [] : [s.send_error_ms])),
  );
  return { p50: percentileNearestRank(errors, 50), p99: percentileNearestRank(errors, 99) };
}
