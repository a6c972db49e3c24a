/**
 * The reflector's main thread and its worker share one Int32Array (SharedArrayBuffer): a stop flag,
 * the Error Estimate to send, and the counters. The worker never yields to its event loop (it sits in
 * poll(2)), so postMessage could not reach it; Atomics can.
 */
export const SLOT = {
  stop: 0,
  errorEstimate: 1,
  received: 2,
  reflected: 3,
  dropped_malformed: 4,
  dropped_auth: 5,
  dropped_not_allowed: 6,
  dropped_rate_limited: 7,
  /** SO_RXQ_OVFL: datagrams the kernel dropped because the socket's receive queue was full. */
  dropped_kernel: 8,
  /** Replies whose residence time T3 − T2 exceeded 1 ms (the host, not the network, added it). */
  residence_over_1ms: 9,
  /** Largest T3 − T2 seen, µs. */
  residence_max_us: 10,
  send_failed: 11,
  /** Largest gap from a reply's T3 to its kernel TX stamp, µs: how late replies really left. */
  reply_tx_gap_max_us: 12,
  /** Replies that left more than 1 ms after the T3 they carry. */
  reply_tx_late_over_1ms: 13,
  /** Datagrams longer than the reflector takes (limits.STAMP_MAX_DATAGRAM_BYTES): truncated, not answered. */
  dropped_oversize: 14,
  /** Authenticated requests whose TLVs failed the HMAC TLV check (RFC 8972 §4.8): answered, TLVs not processed. */
  tlv_hmac_failed: 15,
} as const;

export const SHARED_SLOTS = 16;

/** What the worker needs to run (structured-clone safe). */
export interface ReflectorWorkerData {
  fd: number;
  family: 4 | 6;
  shared: SharedArrayBuffer;
  authMode: "open" | "authenticated" | "both";
  authKey: Uint8Array | null;
  allow: string[];
  rateLimitPps: number;
  rateLimitBurst: number;
  stateful: boolean;
}
