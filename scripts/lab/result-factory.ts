/** Valid result messages for tests (via test/helpers/result-factory.ts) and benchmarks. */
import { v7 as uuidv7 } from "uuid";
import { RESULT_SCHEMA_ID, ResultMessage } from "../../agent/publish/message.js";

export interface ResultFactoryInput {
  id?: string;
  seq?: number;
  operator?: string;
  site?: string;
  province?: string;
  testId?: string;
  peerSite?: string;
  peerProvince?: string;
  /** ISO 8601 UTC; the interval lasts 60 s. */
  intervalStart?: string;
  sent?: number;
  received?: number;
  rttMeanMs?: number;
}

/**
 * A result message of the wire schema's shape: one STAMP minute from Beijing to Guangzhou
 * (≈ 1,890 km great-circle), 600 packets, numbers consistent with each other. Not validated: the
 * collector benchmark builds 100,000 of them inside its timed publish loop.
 */
export function buildResult(input: ResultFactoryInput = {}): ResultMessage {
  const sent = input.sent ?? 600;
  const received = input.received ?? 594;
  const start = input.intervalStart ?? "2026-01-01T10:00:00.000Z";
  const end = new Date(Date.parse(start) + 60_000).toISOString();
  const mean = input.rttMeanMs ?? 38.5;
  const message: ResultMessage = {
    schema: RESULT_SCHEMA_ID,
    id: input.id ?? uuidv7(),
    seq: input.seq ?? 1,
    status: "ok",
    agent: {
      site: input.site ?? "bj-01",
      operator: input.operator ?? "op-a",
      province: input.province ?? "BJ",
      version: "0.1.0",
    },
    test: {
      id: input.testId ?? "bj-gz-stamp",
      method: "stamp",
      target: "stamp://198.51.100.7:862",
      peer: { site: input.peerSite ?? "gz-01", province: input.peerProvince ?? "GD" },
      distance_km: 1890.4,
      packet_size_bytes: 128,
      dscp: 0,
      rate_pps: 10,
      diagnostic: false,
    },
    interval: { start, end },
    packets: { sent, received, lost: sent - received, duplicates: 0, reordered: 1, late: 0 },
    loss_ratio: sent === 0 ? null : (sent - received) / sent,
    rtt_ms: {
      min: mean - 2.5,
      mean,
      median: mean - 0.1,
      p95: mean + 3,
      p99: mean + 6,
      max: mean + 9.5,
      stddev: 1.7,
    },
    delay_variation_ms: {
      max_minus_min: 12,
      basis: "round-trip",
      ipdv_mean_abs: 0.8,
      pdv_p99: 8.5,
      jitter_rfc3550: 0.6,
    },
    one_way_ms: null,
    verdicts: {
      profile: "internet-3.2.2",
      delay_basis: "round-trip",
      rtt: "pass",
      delay_variation: "pass",
      loss: "pass",
    },
    quality: {
      send_error_ms: { p50: 0.05, p99: 0.4 },
      clock: { synced: true, source: "chrony", max_error_ms: 1.2 },
      flags: [],
    },
  };
  return message;
}

/** `buildResult`, checked against the wire schema. */
export function makeResult(input: ResultFactoryInput = {}): ResultMessage {
  // Fail here, in the helper, rather than confusingly in the test that uses it.
  return ResultMessage.parse(buildResult(input));
}

/** The MQTT topic an agent publishes this result on. */
export function resultTopic(msg: ResultMessage, root = "qosprobe/v1"): string {
  return `${root}/${msg.agent.operator}/${msg.agent.province}/${msg.agent.site}/result/${msg.test.id}`;
}
