import { v7 as uuidv7 } from "uuid";
import type { Clock } from "../clock.js";
import { lightSpeedMinRttMs, PROFILE_THRESHOLDS } from "../compliance/thresholds.js";
import { judgeFlaggedInterval } from "../compliance/verdict.js";
import { ProbeFaultError, QosProbeError } from "../errors.js";
import { loopDelay } from "../host/loop-delay.js";
import type { Logger } from "../log.js";
import { summarize } from "../metrics/summary.js";
import { isHostTiming, timingError } from "../metrics/timing-error.js";
import { loadedLibc } from "../net/libc.js";
import { type ProfileId, RESULT_SCHEMA_ID, type ResultMessage } from "../publish/message.js";
import { MAX_RUN_PACKETS } from "./limits.js";
import type { ClockSyncState, MeasurementFault, ProbeFacts, Prober, ProbeSpec, Sample } from "./prober.js";

/** Who is measuring: copied into every result. */
export interface AgentIdentity {
  site: string;
  operator: string;
  province: string;
  version: string;
}

/** One run of one test: what to measure and how to label it. */
export interface RunRequest {
  test_id: string;
  /** Human-readable target as configured, e.g. "stamp://192.0.2.10:862". */
  target: string;
  spec: ProbeSpec;
  profile: ProfileId;
  diagnostic: boolean;
  peer?: { site: string; province: string };
  distance_km?: number;
  agent: AgentIdentity;
  /** Per-agent sequence number; the agent's outbox owns it, one-shot runs use 0. */
  seq?: number;
  /**
   * The measurement interval the result stands for, when the scheduler aligned it to the wall clock
   * (continuous tests); otherwise the run's own start and end.
   */
  interval?: { start_ms: number; end_ms: number };
}

export interface RunContext {
  clock: Clock;
  log: Logger;
  clockSync: ClockSyncState;
  /** Abort the run early (SIGTERM, reload); the result is flagged "aborted". */
  signal?: AbortSignal;
  onSample?: (s: Sample) => void;
  /**
   * The caller reports a failed run itself (the one-shot CLI prints one line with the fix): it gets the
   * thrown error, and the runner logs it at debug instead of warn.
   */
  onFailure?: (err: unknown) => void;
}

/** Slack on top of the nominal run time before the runner gives up on a prober. */
const DEADLINE_SLACK_MS = 5_000;

/** A sender whose p99 schedule error exceeds this share of the interval is flagged as struggling. */
const SEND_ERROR_FLAG_SHARE = 0.1;

/** A run holds a sample per packet until it is summarised: refuse one too big for the host's memory. */
export function checkRunSize(spec: Pick<ProbeSpec, "count">): void {
  if (spec.count > MAX_RUN_PACKETS) {
    throw new QosProbeError(
      "PROBE_SETUP",
      `a run of ${spec.count} packets is more than the ${MAX_RUN_PACKETS} one run may send`,
      { hint: "lower rate_pps or the run length (interval_s / duration_s)" },
    );
  }
}

/** How long a run may take: every packet's slot (or the Poisson sending time), the last loss timeout, slack. */
export function runDeadlineMs(spec: ProbeSpec): number {
  const sending =
    spec.schedule === "poisson" && spec.send_window_ms !== undefined
      ? spec.send_window_ms
      : spec.count * spec.interval_ms;
  return sending + spec.loss_timeout_ms + DEADLINE_SLACK_MS;
}

/**
 * A Poisson run sends only inside the interval it claims (send-times.ts): its sending time is what is
 * left of the interval when the run starts, or count × interval for a run without one.
 */
export function withSendWindow(spec: ProbeSpec, interval: RunRequest["interval"], nowMs: number): ProbeSpec {
  if (spec.schedule !== "poisson" || !interval) return spec;
  return { ...spec, send_window_ms: Math.max(0, interval.end_ms - nowMs) };
}

/**
 * Run one prober and turn its samples into a result message. The runner owns what every method
 * shares: the deadline, the child logger, a thrown setup error becoming a failed result, and the
 * metrics. A timeout inside a run is loss (the prober's business), not an error.
 */
export async function runProbe(prober: Prober, req: RunRequest, ctx: RunContext): Promise<ResultMessage> {
  const log = ctx.log.child({ test: req.test_id, method: req.spec.method });
  const startedAt = ctx.clock.now();
  const spec = withSendWindow(req.spec, req.interval, startedAt);
  const deadline = AbortSignal.timeout(runDeadlineMs(spec));
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, deadline]) : deadline;
  const facts: ProbeFacts = { flags: [] };
  const loopWindow = loopDelay.window();

  let samples: Sample[] = [];
  let error: { code: string; message: string } | undefined;
  let measured: { address: string; family: 4 | 6 } | undefined;
  try {
    checkRunSize(spec);
    samples = await prober(spec, {
      signal,
      clock: ctx.clock,
      log,
      clockSync: ctx.clockSync,
      facts,
      ...(ctx.onSample ? { onSample: ctx.onSample } : {}),
      onTarget: (t) => {
        measured = t;
      },
    });
  } catch (err) {
    if (err instanceof ProbeFaultError) {
      facts.fault ??= { code: err.faultCode, message: err.message };
    } else if (err instanceof QosProbeError && err.fault) {
      // STAMP faults (key mismatch, nothing listening, a local send failure) carry their ErrorCode.
      facts.fault ??= { code: err.code, message: err.message };
    } else {
      error = {
        code: err instanceof QosProbeError ? err.code : "PROBE_SETUP",
        message: err instanceof Error ? err.message : String(err),
      };
    }
    const what = facts.fault ? "measurement fault" : "probe failed before measuring";
    if (ctx.onFailure) {
      ctx.onFailure(err);
      log.debug({ err }, what);
    } else log.warn({ err }, what);
  }
  const loopDelayMs = loopWindow();
  const endedAt = ctx.clock.now();
  const message = buildResult({ ...req, spec }, samples, {
    startedAt,
    endedAt,
    clockSync: ctx.clockSync,
    aborted: signal.aborted,
    error,
    facts,
    ...(measured ? { measured } : {}),
    // This thread's event-loop lag is in the delays only where timestamps are taken in JavaScript
    // (TCP, HTTP, STAMP on dgram); ping and the kernel-stamped STAMP socket stamp in the kernel, where
    // timing-error.ts reports it without counting it.
    eventLoopDelayMs: loopDelayMs,
  });
  log.debug({ sent: message.packets.sent, lost: message.packets.lost }, "run finished");
  return message;
}

interface BuildFacts {
  startedAt: number;
  endedAt: number;
  clockSync: ClockSyncState;
  aborted: boolean;
  error: { code: string; message: string } | undefined;
  /** What the prober reported besides samples (address, fault, flags). */
  facts?: ProbeFacts;
  /** Event-loop bound over the run, ms, for methods timestamped in JavaScript (host/loop-delay.ts). */
  eventLoopDelayMs?: number;
  /** The address and family the prober measured. */
  measured?: { address: string; family: 4 | 6 };
  /** `error` is a fault of the measurement (QosProbeError.fault): `status: "fault"` with its code. */
  fault?: boolean;
}

/**
 * How the method's packet times were taken. STAMP samples say so themselves (kernel only if every
 * received packet had a kernel RX stamp); ping stamps replies with the kernel's SO_TIMESTAMP; TCP and
 * HTTP time in JavaScript. A STAMP run with no sample reports the socket it would have used.
 */
export function timestampsOf(method: string, samples: Sample[]): "kernel" | "user" {
  if (method === "icmp") return "kernel";
  if (method !== "stamp") return "user";
  const marked = samples.filter((s) => s.timestamps !== undefined);
  if (marked.length > 0) return marked.every((s) => s.timestamps === "kernel") ? "kernel" : "user";
  return loadedLibc() ? "kernel" : "user";
}

/** Quality.follow_up: how many received replies asked for, and got, their T3 confirmed (STAMP). */
export function followUpOf(samples: Sample[]): {
  requested: number;
  confirmed: number;
  hmac_failed?: number;
} {
  const replies = samples.filter((s) => !s.dup && s.rtt_ms !== null);
  const hmacFailed = samples.filter((s) => !s.dup && s.tlv_hmac_failed === true).length;
  return {
    requested: replies.filter((s) => s.follow_up_requested === true).length,
    confirmed: replies.filter((s) => s.t3_follow_up_ms !== undefined).length,
    ...(hmacFailed > 0 ? { hmac_failed: hmacFailed } : {}),
  };
}

/** Packets lost because their send found no path, and the first such reason (issue 9 outages). */
function outageOf(samples: Sample[]): { reason: string; packets: number } | undefined {
  const failed = samples.filter((s) => s.send_error !== undefined && !s.dup);
  const first = failed[0]?.send_error;
  return first === undefined ? undefined : { reason: first, packets: failed.length };
}

/**
 * Pure: samples and facts in, the v1 result message out. Status: "error" when we could not measure,
 * "fault" when the measurement itself failed (ProbeFacts.fault: refused, unresolvable, TLS, HMAC),
 * else "ok". Flags that make the figures the host's rather than the network's keep them out of the
 * verdicts (compliance/verdict.ts EXCLUDING_FLAGS).
 */
export function buildResult(req: RunRequest, samples: Sample[], facts: BuildFacts): ResultMessage {
  // Packets sent = distinct sequence numbers the prober reports (duplicates are extra samples).
  const sent = samples.filter((s) => !s.dup).length;
  const raw = summarize(samples, {
    sent,
    clockSynced: facts.clockSync.synced,
    clockErrorMs: facts.clockSync.max_error_ms,
  });
  const summary = roundSummary(raw);
  const faultFromError = facts.error && facts.fault ? facts.error : undefined;
  const error = faultFromError ? undefined : facts.error;
  const fault: MeasurementFault | undefined = faultFromError ?? (error ? undefined : facts.facts?.fault);
  const measured =
    facts.measured ??
    (facts.facts?.address && facts.facts.family
      ? { address: facts.facts.address, family: facts.facts.family }
      : undefined);
  const timestamps = timestampsOf(req.spec.method, samples);
  const timing = timingError({ timestamps, samples, event_loop_delay_ms: facts.eventLoopDelayMs });
  const dvLimit = PROFILE_THRESHOLDS[req.profile].delay_variation_ms;

  const outage = outageOf(samples);
  const flags: string[] = [];
  if (req.diagnostic) flags.push("diagnostic");
  // Issue 10: until the host has been synchronised once since boot its wall clock (intervals, one-way
  // figures) is not trusted; a clock that was synced and is now coasting is judged by its bound instead.
  if (!(facts.clockSync.synced_once ?? facts.clockSync.synced)) flags.push("clock-unsynced");
  if (facts.aborted) flags.push("aborted");
  if (error) flags.push("error");
  if (fault) flags.push("fault");
  for (const f of facts.facts?.flags ?? []) if (!flags.includes(f)) flags.push(f);
  if (summary.packets.received > 0 && isHostTiming(timing.bound, dvLimit)) flags.push("host-timing");
  const p99SendError = summary.send_error_ms.p99;
  if (p99SendError !== null && p99SendError > req.spec.interval_ms * SEND_ERROR_FLAG_SHARE) {
    flags.push("send-jitter-high");
  }
  const minRtt = summary.rtt_ms.min;
  if (req.distance_km !== undefined && minRtt !== null && minRtt < lightSpeedMinRttMs(req.distance_km)) {
    // Faster than light in fibre over the great-circle distance: the target is not where the config says.
    flags.push("rtt-below-light-bound");
  }
  const verdicts = judgeFlaggedInterval(
    req.profile,
    {
      packets: summary.packets,
      loss_ratio: summary.loss_ratio,
      rtt_ms: summary.rtt_ms,
      delay_variation_ms: summary.delay_variation_ms,
      one_way_ms: summary.one_way_ms,
    },
    flags,
  );
  const status = error ? "error" : fault ? "fault" : "ok";
  const errorField = error ?? fault;
  const clock = facts.clockSync;
  const gate = raw.one_way_gate;

  return {
    schema: RESULT_SCHEMA_ID,
    id: uuidv7(),
    seq: req.seq ?? 0,
    status,
    ...(errorField ? { error: { code: errorField.code, message: errorField.message } } : {}),
    agent: { ...req.agent },
    test: {
      id: req.test_id,
      method: req.spec.method,
      target: req.target,
      ...(req.peer ? { peer: { ...req.peer } } : {}),
      ...(req.distance_km !== undefined ? { distance_km: round(req.distance_km, 1) } : {}),
      ...(measured ? { address: measured.address, family: measured.family } : {}),
      packet_size_bytes: req.spec.packet_size_bytes,
      dscp: req.spec.dscp,
      rate_pps: round(1000 / req.spec.interval_ms, 6),
      diagnostic: req.diagnostic,
    },
    interval: {
      start: new Date(req.interval?.start_ms ?? facts.startedAt).toISOString(),
      end: new Date(req.interval?.end_ms ?? facts.endedAt).toISOString(),
    },
    packets: summary.packets,
    loss_ratio: summary.loss_ratio,
    rtt_ms: summary.rtt_ms,
    delay_variation_ms: summary.delay_variation_ms,
    one_way_ms: summary.one_way_ms,
    verdicts,
    quality: {
      send_error_ms: summary.send_error_ms,
      clock: {
        synced: clock.synced,
        ...(clock.synced_once !== undefined ? { synced_once: clock.synced_once } : {}),
        source: clock.source,
        ...(clock.max_error_ms !== undefined
          ? {
              max_error_ms: round(clock.max_error_ms, MS_DIGITS),
              error_bound_ms: round(clock.max_error_ms, MS_DIGITS),
            }
          : {}),
        ...(!gate.report && req.spec.method === "stamp" ? { one_way_withheld: gate.reason } : {}),
      },
      timing_error_ms: {
        bound: round(timing.bound, MS_DIGITS),
        terms: roundTerms(timing.terms),
        ...(Object.keys(timing.not_counted).length > 0
          ? { not_counted: roundTerms(timing.not_counted) }
          : {}),
      },
      ...(req.spec.method === "stamp" ? { follow_up: followUpOf(samples) } : {}),
      timestamps,
      flags,
    },
    ...(outage ? { outage } : {}),
  };
}

/** Milliseconds to 0.1 µs: finer than any timestamp we take, and free of float noise like 0.0204999…97. */
const MS_DIGITS = 4;
const RATIO_DIGITS = 6;

function roundSummary(s: ReturnType<typeof summarize>): ReturnType<typeof summarize> {
  const oneWayBound = s.one_way_ms?.error_bound_ms;
  const ms = <T extends Record<string, unknown>>(o: T): T =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [k, typeof v === "number" ? round(v, MS_DIGITS) : v]),
    ) as T;
  return {
    ...s,
    loss_ratio: s.loss_ratio === null ? null : round(s.loss_ratio, RATIO_DIGITS),
    rtt_ms: ms(s.rtt_ms),
    delay_variation_ms: ms(s.delay_variation_ms),
    one_way_ms: s.one_way_ms && {
      ...s.one_way_ms,
      forward: ms(s.one_way_ms.forward),
      reverse: ms(s.one_way_ms.reverse),
      ...(oneWayBound !== undefined ? { error_bound_ms: round(oneWayBound, MS_DIGITS) } : {}),
    },
    send_error_ms: ms(s.send_error_ms),
  };
}

function roundTerms(terms: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, round(v, MS_DIGITS)]));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
