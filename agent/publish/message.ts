import * as z from "zod";
import { METHODS } from "../probe/prober.js";

/**
 * The result message, version 1: one shape on MQTT, in `test --json` and in the store's payload.
 * Keys are snake_case with units in the name. A breaking change means a new `schema` string; the
 * collector rejects versions it does not know rather than guessing.
 */
export const RESULT_SCHEMA_ID = "qosprobe.result/1";

const ms = z.number().finite();
const nullableMs = ms.nullable();
const count = z.number().int().nonnegative();
const isoUtc = z.iso.datetime({ offset: false });

export const VerdictValue = z.enum(["pass", "fail", "insufficient"]);
export type VerdictValue = z.infer<typeof VerdictValue>;

/**
 * One interval's verdict: a VerdictValue, or "not-judged" when a flag says the figure is not the
 * network's (host-timing, clock-step, a fault); `verdicts.not_judged` gives the flags.
 */
export const IntervalVerdictValue = z.enum(["pass", "fail", "insufficient", "not-judged"]);
export type IntervalVerdictValue = z.infer<typeof IntervalVerdictValue>;

export const PROFILES = ["internet-3.2.2", "voip-4.2"] as const;
export const ProfileId = z.enum(PROFILES);
export type ProfileId = z.infer<typeof ProfileId>;

export const RttStats = z
  .object({
    min: nullableMs,
    mean: nullableMs,
    median: nullableMs,
    p95: nullableMs,
    p99: nullableMs,
    max: nullableMs,
    stddev: nullableMs,
  })
  .strict();
export type RttStats = z.infer<typeof RttStats>;

/** Which delays the spec's max − min was taken over. */
export const DvBasis = z.enum(["round-trip", "one-way-forward", "one-way-reverse"]);

export const DelayVariation = z
  .object({
    /** Spec 3.2.2.2 / 4.2.3: maximum − minimum delay in the interval. The verdict uses this. */
    max_minus_min: nullableMs,
    basis: DvBasis,
    /** RFC 3393 IPDV between consecutive packets: mean of |D(i) − D(i−1)|. */
    ipdv_mean_abs: nullableMs,
    /** RFC 5481 PDV: 99th percentile of D(i) − min(D). */
    pdv_p99: nullableMs,
    /** RFC 3550 §6.4.1 interarrival jitter estimate J (gain 1/16) at the end of the interval. */
    jitter_rfc3550: nullableMs,
    /** Why the figures are null, e.g. "fewer than 2 packets received". */
    null_reason: z.string().optional(),
  })
  .strict();
export type DelayVariation = z.infer<typeof DelayVariation>;

export const OneWayStats = z
  .object({ min: nullableMs, mean: nullableMs, max: nullableMs, max_minus_min: nullableMs })
  .strict();

export const OneWay = z
  .object({
    forward: OneWayStats,
    reverse: OneWayStats,
    clock_synced: z.boolean(),
    /** Local + remote clock error bounds, ms: how far the clocks could move these figures. */
    error_bound_ms: ms.optional(),
  })
  .strict();
export type OneWay = z.infer<typeof OneWay>;

export const Packets = z
  .object({
    sent: count,
    received: count,
    lost: count,
    duplicates: count,
    reordered: count,
    late: count,
    /** Lost packets whose cause the host saw at send time, by reason: { "network unreachable": 3 }. */
    loss_reasons: z.record(z.string(), count).optional(),
  })
  .strict();
export type Packets = z.infer<typeof Packets>;

export const Verdicts = z
  .object({
    profile: ProfileId,
    /** Which delay the delay verdict judged: mean RTT (3.2.2.1) or one-way delay (4.2.2). */
    delay_basis: z.enum(["round-trip", "one-way", "round-trip-half"]),
    rtt: IntervalVerdictValue,
    delay_variation: IntervalVerdictValue,
    loss: IntervalVerdictValue,
    /** The flags that made a verdict "not-judged" (absent when every verdict was judged). */
    not_judged: z.array(z.string()).optional(),
  })
  .strict();
export type Verdicts = z.infer<typeof Verdicts>;

/** How far the interval can be trusted: a struggling sender or an unsynced clock is flagged, not hidden. */
export const Quality = z
  .object({
    send_error_ms: z.object({ p50: nullableMs, p99: nullableMs }).strict(),
    clock: z
      .object({
        /** Synchronised now (adjtimex: STA_UNSYNC clear). */
        synced: z.boolean(),
        /** Synchronised at least once since boot; false → flag clock-unsynced. */
        synced_once: z.boolean().optional(),
        source: z.string(),
        /** Deprecated name of error_bound_ms, kept for readers of earlier messages. */
        max_error_ms: ms.optional(),
        /** Bound on |local clock − UTC|, ms (adjtimex maxerror). */
        error_bound_ms: ms.optional(),
        /** Why one_way_ms is null, when the method could have had it (metrics/one-way-gate.ts). */
        one_way_withheld: z.string().optional(),
      })
      .strict(),
    /**
     * What the measuring hosts could have added to one packet's delay (metrics/timing-error.ts): `bound`
     * = the sum of `terms`, the effects that can move this interval's figures given how its timestamps
     * were taken; `not_counted` = effects observed that cannot (kernel stamps cover them).
     */
    timing_error_ms: z
      .object({
        bound: ms,
        terms: z.record(z.string(), ms),
        not_counted: z.record(z.string(), ms).optional(),
      })
      .strict()
      .optional(),
    /**
     * STAMP only: the reflector's confirmation of its transmit times (RFC 8972 §4.7 Follow-Up
     * Telemetry, §4.8 HMAC TLV in authenticated mode), counted over the interval's received replies.
     * `requested` = replies to packets that asked for it (0: the packet had no room for the TLV);
     * `confirmed` = replies whose T3 the reflector's next reply confirmed, so corrected to the real
     * transmit time. The others' T3 is as written and counts in timing_error_ms (`reflector_t3`):
     * the last reply of an interval, a reflector without the TLV (an RFC 8762 one), a lost follow-up.
     * `hmac_failed` = authenticated replies whose TLVs failed the HMAC TLV check and were ignored.
     */
    follow_up: z
      .object({ requested: count, confirmed: count, hmac_failed: count.optional() })
      .strict()
      .optional(),
    /**
     * How packet times were taken: "kernel" = kernel timestamps (STAMP on the koffi socket, ping's
     * SO_TIMESTAMP), "user" = JavaScript after the event loop got to it. Optional only so results
     * stored before it existed still validate; every new result carries it.
     */
    timestamps: z.enum(["kernel", "user"]).optional(),
    /**
     * e.g. "diagnostic", "clock-unsynced", "send-jitter-high", "rtt-below-light-bound", "aborted",
     * "host-timing", "clock-step", "fault".
     */
    flags: z.array(z.string()),
  })
  .strict();
export type Quality = z.infer<typeof Quality>;

export const ResultMessage = z
  .object({
    schema: z.literal(RESULT_SCHEMA_ID),
    id: z.uuid({ version: "v7" }),
    seq: count,
    /**
     * ok: measured. error: we could not measure (setup: ping missing, bad key file). fault: the
     * measurement itself failed (target refused, name unresolvable, TLS, HMAC mismatch) — out of path
     * loss, counted against coverage. Both carry `error {code, message}`.
     */
    status: z.enum(["ok", "error", "fault"]),
    error: z.object({ code: z.string(), message: z.string() }).strict().optional(),
    agent: z
      .object({
        site: z.string().min(1),
        operator: z.string().min(1),
        province: z.string().min(1),
        version: z.string(),
      })
      .strict(),
    test: z
      .object({
        id: z.string().min(1),
        method: z.enum(METHODS),
        target: z.string(),
        /** The address actually measured and its family, when the run got as far as resolving. */
        address: z.string().optional(),
        family: z.union([z.literal(4), z.literal(6)]).optional(),
        peer: z.object({ site: z.string(), province: z.string() }).strict().optional(),
        distance_km: z.number().nonnegative().optional(),
        packet_size_bytes: z.number().int().positive(),
        dscp: z.number().int().min(0).max(63),
        rate_pps: z.number().positive(),
        diagnostic: z.boolean(),
      })
      .strict(),
    interval: z.object({ start: isoUtc, end: isoUtc }).strict(),
    packets: Packets,
    loss_ratio: z.number().min(0).max(1).nullable(),
    rtt_ms: RttStats,
    delay_variation_ms: DelayVariation,
    one_way_ms: OneWay.nullable(),
    verdicts: Verdicts,
    quality: Quality,
    /** Evidence (issue 11, agent/evidence/seal.ts): digest of this agent's previous result, null first. */
    prev: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/)
      .nullable()
      .optional(),
    /** Ed25519 signature (base64url) by the site's device key over the RFC 8785 bytes without sig. */
    sig: z
      .string()
      .regex(/^[A-Za-z0-9_-]{86}$/)
      .optional(),
    /**
     * Packets whose send failed because there was no path (ENETUNREACH, EHOSTUNREACH, ENETDOWN): they
     * count as sent and lost, an outage the loss verdict must see (issue 9), not an error.
     */
    outage: z.object({ reason: z.string(), packets: count }).strict().optional(),
  })
  .strict();
export type ResultMessage = z.infer<typeof ResultMessage>;
