import type { Sample } from "../probe/prober.js";

/**
 * One-way delays need two clocks that agree with UTC; each end states how far it may be off (ours from
 * adjtimex maxerror, the reflector's in its STAMP Error Estimate, RFC 4656 §4.1.2). A one-way delay
 * is only as good as the sum of both bounds, so it is reported only when that sum is small beside it:
 *
 *   local bound + largest remote bound ≤ 10 % × (minimum RTT / 2)
 *
 * Minimum RTT / 2 stands for the one-way figure because it needs no clock agreement (a one-way delay
 * computed from bad clocks can be anything, even negative). At 10 % a one-way mean or DV moves by at
 * most a tenth of itself through the clocks; across a 1,000 km path (≥ 10 ms RTT) that asks for a
 * summed bound ≤ 0.5 ms, what PTP or a well-fed chrony gives and a typical internet NTP client does not.
 * Round-trip figures never depend on it.
 */
export const ONE_WAY_BOUND_SHARE = 0.1;

export type OneWayGate =
  | { report: true; error_bound_ms: number }
  | {
      report: false;
      reason:
        | "local-clock-unsynced"
        | "local-bound-unknown"
        | "remote-clock-unsynced"
        | "bound-too-large"
        | "no-replies";
      /** The summed bound when both were known, ms. */
      error_bound_ms?: number;
    };

export interface LocalClock {
  synced: boolean;
  /** Bound on |local clock − UTC|, ms; undefined when unknown. */
  error_bound_ms?: number | undefined;
}

/** Decide whether this interval's one-way delays mean something. Pure. */
export function oneWayGate(received: readonly Sample[], local: LocalClock): OneWayGate {
  if (!local.synced) return { report: false, reason: "local-clock-unsynced" };
  if (local.error_bound_ms === undefined || !Number.isFinite(local.error_bound_ms)) {
    return { report: false, reason: "local-bound-unknown" };
  }
  if (received.length === 0) return { report: false, reason: "no-replies" };
  let remote = 0;
  let minRtt = Number.POSITIVE_INFINITY;
  for (const s of received) {
    // Session-Sender fills fwd/rev only when the reflector's S bit was set; its bound comes with them.
    if (s.fwd_ms === undefined || s.rev_ms === undefined || s.remote_error_ms === undefined) {
      return { report: false, reason: "remote-clock-unsynced" };
    }
    remote = Math.max(remote, s.remote_error_ms);
    if (s.rtt_ms !== null) minRtt = Math.min(minRtt, s.rtt_ms);
  }
  const bound = local.error_bound_ms + remote;
  if (bound <= ONE_WAY_BOUND_SHARE * (minRtt / 2)) return { report: true, error_bound_ms: bound };
  return { report: false, reason: "bound-too-large", error_bound_ms: bound };
}
