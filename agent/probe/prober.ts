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
  /** Estimated wall-clock error bound in milliseconds, when known. */
  max_error_ms?: number;
}

/** Everything a prober needs to run one measurement. Built by the runner from a test config. */
export interface ProbeSpec {
  method: Method;
  /** Host name or address (stamp, icmp, tcp), or a URL (http). */
  host: string;
  port?: number;
  url?: string;
  /** Packets (or connections / requests) to send in this run. */
  count: number;
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
  /** Called once the prober knows the address and family it actually measures (issue 9). */
  onTarget?: (t: { address: string; family: 4 | 6 }) => void;
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
  /** 0-based index of this reply in arrival order (absent for lost packets). */
  arrival?: number;
  /** Actual send time − scheduled send time, ms: how well the sender kept its schedule. */
  send_error_ms?: number;
  /** The reflector said its clock is synchronised (STAMP Error Estimate S bit). */
  remote_synced?: boolean;
  /**
   * How this packet's receive time (T4) was taken: "kernel" = the kernel's software RX stamp,
   * "user" = JavaScript when the event loop got to it. STAMP only.
   */
  timestamps?: "kernel" | "user";
  /** Where T1 came from: the kernel's TX stamp, or the clock read just before send(). STAMP only. */
  t1_source?: "kernel-tx" | "clock";
  /** Kernel TX stamp − clock read before send(), ms: what the host added inside send(). */
  t1_lag_ms?: number;
  /** The send failed with this errno (ENETUNREACH, EHOSTUNREACH, ENETDOWN, …): sent and lost, an outage. */
  send_error?: string;
  /** TTL / hop limit the reflector received our packet with (RFC 8762 Ses-Sender TTL); 0 = unknown. */
  sender_ttl?: number;
}

export type Prober = (spec: ProbeSpec, ctx: ProbeContext) => Promise<Sample[]>;
