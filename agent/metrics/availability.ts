import { QosProbeError } from "../errors.js";

/** Spec 3.2.2.4: availability is judged over continuous 5-minute periods. */
export const WINDOW_MS = 300_000;

/** A window whose loss ratio is at most this is available ("≤ 75 %", so exactly 75 % is available). */
export const AVAILABLE_MAX_LOSS_RATIO = 0.75;

/**
 * Proportional splitting turns exact counts into floating-point fractions (e.g. 75 of 100 split as
 * 25 / 33.33…), so the ratio can land a few ulps above 0.75; tolerate that, nothing more.
 */
const RATIO_TOLERANCE = 1e-9;

/** Packets sent and lost during one measurement interval [start_ms, end_ms). */
export interface IntervalLoss {
  start_ms: number;
  end_ms: number;
  sent: number;
  lost: number;
}

export type WindowState = "available" | "unavailable" | "unmeasured";

export interface AvailabilityWindow {
  start_ms: number;
  sent: number;
  lost: number;
  loss_ratio: number | null;
  state: WindowState;
}

export interface AvailabilitySummary {
  windows: number;
  available: number;
  unavailable: number;
  unmeasured: number;
  /** available / (available + unavailable); null when no window was measured. */
  ratio: number | null;
}

/**
 * Cut [from_ms, to_ms) into epoch-aligned windows (UTC; epoch milliseconds have no time zone),
 * rounding `from` down and `to` up to window boundaries, and classify each window.
 *
 * An interval that crosses a boundary has its sent/lost split between the windows in proportion to
 * the time it overlaps each: results carry only counts, not per-packet times, and probes are sent at
 * a uniform rate, so time share is the best estimate of packet share. Counts may thus be fractional.
 * Parts of intervals outside the rounded range are ignored; several intervals in one window add up.
 */
export function classifyWindows(
  intervals: readonly IntervalLoss[],
  from_ms: number,
  to_ms: number,
  window_ms: number = WINDOW_MS,
): AvailabilityWindow[] {
  if (!Number.isFinite(window_ms) || window_ms <= 0) {
    throw new QosProbeError("USAGE", `availability window must be a positive number of ms, got ${window_ms}`);
  }
  if (!Number.isFinite(from_ms) || !Number.isFinite(to_ms) || to_ms < from_ms) {
    throw new QosProbeError("USAGE", `availability period is empty or reversed: ${from_ms} → ${to_ms}`);
  }
  const first = Math.floor(from_ms / window_ms) * window_ms;
  const count = Math.ceil(to_ms / window_ms) - first / window_ms;
  const sent = new Array<number>(count).fill(0);
  const lost = new Array<number>(count).fill(0);

  for (const iv of intervals) {
    const duration = iv.end_ms - iv.start_ms;
    if (duration <= 0) {
      // An instant (or malformed) interval: everything belongs to the window holding its start.
      addTo(Math.floor((iv.start_ms - first) / window_ms), iv.sent, iv.lost);
      continue;
    }
    const lo = Math.max(0, Math.floor((iv.start_ms - first) / window_ms));
    const hi = Math.min(count - 1, Math.floor((iv.end_ms - first) / window_ms));
    for (let w = lo; w <= hi; w++) {
      const wStart = first + w * window_ms;
      const overlap = Math.min(iv.end_ms, wStart + window_ms) - Math.max(iv.start_ms, wStart);
      if (overlap > 0) addTo(w, (iv.sent * overlap) / duration, (iv.lost * overlap) / duration);
    }
  }

  return sent.map((s, w) => {
    const l = lost[w] ?? 0;
    const loss_ratio = s > 0 ? l / s : null;
    const state: WindowState =
      loss_ratio === null
        ? "unmeasured"
        : loss_ratio <= AVAILABLE_MAX_LOSS_RATIO + RATIO_TOLERANCE
          ? "available"
          : "unavailable";
    return { start_ms: first + w * window_ms, sent: s, lost: l, loss_ratio, state };
  });

  function addTo(w: number, s: number, l: number): void {
    if (w < 0 || w >= count) return;
    sent[w] = (sent[w] ?? 0) + s;
    lost[w] = (lost[w] ?? 0) + l;
  }
}

/** Count windows by state. Unmeasured windows are counted apart and never count as available. */
export function summarizeAvailability(windows: readonly AvailabilityWindow[]): AvailabilitySummary {
  let available = 0;
  let unavailable = 0;
  let unmeasured = 0;
  for (const w of windows) {
    if (w.state === "available") available += 1;
    else if (w.state === "unavailable") unavailable += 1;
    else unmeasured += 1;
  }
  const measured = available + unavailable;
  return {
    windows: windows.length,
    available,
    unavailable,
    unmeasured,
    ratio: measured === 0 ? null : available / measured,
  };
}
