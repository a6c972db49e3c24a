import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** The measurement methods qos-probe knows. Adding one means one module and one entry in `probers`. */
export const METHODS = ["stamp", "icmp", "tcp", "http"] as const;
export type Method = (typeof METHODS)[number];

/** How packets are spaced: fixed period, or exponential gaps (Poisson process, RFC 2330 §11.1.1). */
export type SendSchedule = "periodic" | "poisson";

/** What the host knows about its own clock. Feeds the STAMP Error Estimate S bit and result flags. */
export interface ClockSyncState {
  synced: boolean;
  /** Where the answer came from: "timedatectl", "chrony", "adjtimex", "assumed", "unknown". */
  source: string;
  /**
   * Synchronised at least once since boot. Until then results are flagged clock-unsynced (a Pi has no
   * real-time clock: before its first sync the wall clock is 1970 or last shutdown's time).
   */
  synced_once?: boolean;
  /** Bound on |wall clock − UTC|, ms, when known (adjtimex maxerror, or chrony's own bound). */
  max_error_ms?: number;
  /** The time daemon's estimated error, ms (adjtimex esterror), when known. */
  est_error_ms?: number;
}

/** Everything a prober needs to run one measurement. Built by the runner from a test config. */
export interface ProbeSpec {
  method: Method;
  /** Host name or address (stamp, icmp, tcp), or a URL (http). */
  host: string;
  port?: number;
  url?: string;
  /** Packets (or connections / requests) to send in this run; for poisson the mean, see send_window_ms. */
  count: number;
  /**
   * Poisson only: how long the run may send, ms (to the end of the interval it claims). Gaps are drawn
   * until this passes, so the count varies (send-times.ts). Default count × interval_ms.
   */
  send_window_ms?: number;
  /** Mean gap between packets, ms. */
  interval_ms: number;
  schedule: SendSchedule;
  /** IP packet size the spec calls "average packet length": IP header + UDP/ICMP header + payload. */
  packet_size_bytes: number;
  /** DSCP code point 0..63 written into the IP header's traffic class. */
  dscp: number;
  /** A reply later than this after sending counts as lost (and as `late` if it shows up). */
  loss_timeout_ms: number;
  /** STAMP only: HMAC key for authenticated mode; absent = unauthenticated mode. */
  auth_key?: Buffer;
  /** STAMP only: RFC 8972 Session-Sender Identifier, 1..65535 (0 is reserved). */
  ssid?: number;
  /** Address family preference for name resolution. */
  family?: 4 | 6;
}

export interface ProbeContext {
  signal: AbortSignal;
  clock: Clock;
  log: Logger;
  /** The host's clock-sync state when the run started. */
  clockSync: ClockSyncState;
  /** Called as each sample is settled (reply, loss or duplicate), for live progress. */
  onSample?: (s: Sample) => void;
  /** What the prober learns about the run besides its samples; filled in as it goes (runner creates it). */
  facts?: ProbeFacts;
  /** Called once the prober knows the address and family it actually measures (issue 9). */
  onTarget?: (t: { address: string; family: 4 | 6 }) => void;
}

/**
 * A fault of the measurement itself, not of the path: the target refused (TCP RST, ICMP port
 * unreachable), the name does not resolve, TLS failed, the reflector's HMAC does not match. The result
 * becomes `status: "fault"` with `error {code, message}` and stays out of path loss (issue 9).
 * Codes in use: TARGET_REFUSED, NAME_UNRESOLVABLE, TLS_ERROR (and, from STAMP, PORT_UNREACHABLE,
 * AUTH_MISMATCH).
 */
export interface MeasurementFault {
  code: string;
  message: string;
}

/** Run facts a prober reports through `ctx.facts`; every field is optional for a prober to fill. */
export interface ProbeFacts {
  /** The address actually measured (after resolution) and its family. */
  address?: string;
  family?: 4 | 6;
  /** The first fault seen; set once, later ones are counted only. */
  fault?: MeasurementFault;
  /** Attempts that ended in a fault (they are not path loss). */
  faulted?: number;
  /** Interval flags the prober raises, e.g. "clock-step" (ICMP: iputils' -D stamps went backwards). */
  flags: string[];
}

/** Record a fault in `facts`: the first one is kept with its message, every one is counted. */
export function reportFault(facts: ProbeFacts | undefined, fault: MeasurementFault): void {
  if (!facts) return;
  facts.fault ??= fault;
  facts.faulted = (facts.faulted ?? 0) + 1;
}

/**
 * One probe packet's fate. Arrival order is carried by `arrival` so reordering (RFC 4737) can be
 * computed from the samples alone; duplicates are extra samples with `dup: true`.
 */
export interface Sample {
  seq: number;
  /** Wall-clock send time, epoch ms. */
  sent_at: number;
  /** Round-trip time in ms, reflector residence time removed; null = lost. */
  rtt_ms: number | null;
  /** One-way delays, only when both ends report synchronised clocks. */
  fwd_ms?: number;
  rev_ms?: number;
  /** Time the reflector held the packet (T3 − T2), ms. */
  reflector_ms?: number;
  /** This is a second (or later) reply to the same sequence number. */
  dup?: boolean;
  /** A reply arrived after the loss timeout: counted lost, flagged late. */
  late?: boolean;
  /**
   * Why a lost packet was lost when the host could see it at send time: "network unreachable",
   * "host unreachable" (no route, ICMP unreachable). Still path loss: an outage is what 3.2.2.4 counts.
   */
  loss_reason?: string;
  /** The RTT crosses a wall-clock step (ICMP -D stamps went backwards): received, RTT not trusted. */
  clock_step?: boolean;
  /** 0-based index of this reply in arrival order (absent for lost packets). */
  arrival?: number;
  /** Actual send time − scheduled send time, ms: how well the sender kept its schedule. */
  send_error_ms?: number;
  /** The reflector said its clock is synchronised (STAMP Error Estimate S bit). */
  remote_synced?: boolean;
  /** The reflector's stated clock error (its Error Estimate, RFC 4656 §4.1.2), ms; with fwd/rev. */
  remote_error_ms?: number;
  /**
   * How this packet's receive time (T4) was taken: "kernel" = the kernel's software RX stamp,
   * "user" = JavaScript when the event loop got to it. STAMP only.
   */
  timestamps?: "kernel" | "user";
  /** Where T1 came from: the kernel's TX stamp, or the clock read just before send(). STAMP only. */
  t1_source?: "kernel-tx" | "clock";
  /** Kernel TX stamp − clock read before send(), ms: what the host added inside send(). */
  t1_lag_ms?: number;
  /**
   * How long the send() call that carried this packet took, ms (clock read before it to clock read
   * after it). Where no TX stamp came back (t1_source "clock") it bounds how much later than T1 the
   * kernel sent the packet. Kernel-timestamped STAMP only.
   */
  send_call_ms?: number;
  /**
   * The reflector's real transmit time of this reply minus the T3 it wrote into it, ms, from the
   * RFC 8972 §4.7 Follow-Up Telemetry of its next reply. When present, rtt_ms and rev_ms use the real
   * transmit time (T3 corrected); absent = T3 as written (unconfirmed).
   */
  t3_follow_up_ms?: number;
  /** Our request carried a Follow-Up Telemetry TLV (RFC 8972 §4.7): this reply's T3 could be confirmed. */
  follow_up_requested?: boolean;
  /** Authenticated: this reply's TLVs failed their HMAC TLV check (RFC 8972 §4.8) and were ignored. */
  tlv_hmac_failed?: boolean;
  /** The send failed with this errno (ENETUNREACH, EHOSTUNREACH, ENETDOWN, …): sent and lost, an outage. */
  send_error?: string;
  /** TTL / hop limit the reflector received our packet with (RFC 8762 Ses-Sender TTL); 0 = unknown. */
  sender_ttl?: number;
}

export type Prober = (spec: ProbeSpec, ctx: ProbeContext) => Promise<Sample[]>;

/** Record the address and family a run actually measures (issue 9: every result says which). */
export function noteTarget(facts: ProbeFacts | undefined, target: { address: string; family: 4 | 6 }): void {
  if (!facts) return;
  facts.address = target.address;
  facts.family = target.family;
}
