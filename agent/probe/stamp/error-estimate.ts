import type { ClockSyncState } from "../prober.js";

/**
 * The 16-bit Error Estimate of RFC 4656 §4.1.2, used unchanged by RFC 8762 §4.2.1:
 *
 *    0                   1
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |S|Z|   Scale   |   Multiplier  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * S = clock synchronised to UTC by an external source; Z = timestamp format (0 = NTP, 1 = PTPv2,
 * RFC 8186 §2.3); error = Multiplier × 2^(Scale − 32) seconds; Multiplier MUST NOT be 0.
 */
export interface ErrorEstimate {
  synced: boolean;
  ptp: boolean;
  /** 0..63 */
  scale: number;
  /** 1..255 */
  multiplier: number;
}

/** No bound known: the largest error the field can say (255 × 2^31 s), never a made-up small one. */
const UNKNOWN_ERROR = { scale: 63, multiplier: 255 } as const;

export function encodeErrorEstimate(e: ErrorEstimate): number {
  const multiplier = Math.min(255, Math.max(1, Math.round(e.multiplier)));
  const scale = Math.min(63, Math.max(0, Math.round(e.scale)));
  return ((e.synced ? 1 : 0) << 15) | ((e.ptp ? 1 : 0) << 14) | (scale << 8) | multiplier;
}

export function decodeErrorEstimate(value: number): ErrorEstimate {
  return {
    synced: (value & 0x8000) !== 0,
    ptp: (value & 0x4000) !== 0,
    scale: (value >> 8) & 0x3f,
    multiplier: value & 0xff,
  };
}

/** The error an estimate states, in milliseconds. */
export function errorEstimateMs(e: ErrorEstimate): number {
  return e.multiplier * 2 ** (e.scale - 32) * 1000;
}

/**
 * Our own estimate from the host's clock state: the smallest Scale whose Multiplier fits in 8 bits,
 * Multiplier rounded up so the stated error is never smaller than the known bound.
 */
export function errorEstimateFromSync(sync: ClockSyncState): ErrorEstimate {
  const bound = sync.max_error_ms;
  if (bound === undefined || !Number.isFinite(bound) || bound < 0) {
    return { synced: sync.synced, ptp: false, ...UNKNOWN_ERROR };
  }
  const seconds = bound / 1000;
  for (let scale = 0; scale <= 63; scale += 1) {
    const multiplier = Math.max(1, Math.ceil(seconds * 2 ** (32 - scale)));
    if (multiplier <= 255) return { synced: sync.synced, ptp: false, scale, multiplier };
  }
  return { synced: sync.synced, ptp: false, ...UNKNOWN_ERROR };
}
