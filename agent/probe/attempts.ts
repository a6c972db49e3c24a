import { classifyNetError } from "./net-errors.js";
import { type ProbeContext, type ProbeSpec, reportFault, type Sample } from "./prober.js";
import { sendOffsets } from "./send-times.js";

/** What one attempt (a TCP connect, an HTTP request) came to. Throwing means lost too. */
export interface AttemptOutcome {
  /** The measured moment happened and the answer was acceptable. */
  ok: boolean;
  /** Work after the measured moment (draining a body, closing a socket): awaited, never timed. */
  done?: Promise<void>;
}

/** One timed exchange. It must give up promptly when `signal` aborts (loss timeout or run abort). */
export type Attempt = (signal: AbortSignal) => Promise<AttemptOutcome>;

/**
 * Run attempts on the spec's schedule (periodic `count`, or a truncated Poisson process: send-times.ts),
 * overlapping when one takes longer than the gap, as a packet stream would. RTT = the monotonic time
 * from starting an attempt to its resolving; an attempt that throws, is not ok, or outlives
 * `loss_timeout_ms` is lost. A thrown error is classified (net-errors.ts): no route → lost with
 * `loss_reason`; refused, unresolvable or TLS → a fault reported in `ctx.facts` (the runner makes the
 * result `status: "fault"`). On abort no further attempts start, those in flight are lost, and the
 * samples of every started attempt return. Sequence numbers start at 0, like STAMP's.
 */
export async function runAttempts(
  spec: Pick<ProbeSpec, "count" | "interval_ms" | "schedule" | "loss_timeout_ms" | "send_window_ms">,
  ctx: ProbeContext,
  attempt: Attempt,
  random: () => number = Math.random,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const settling: Promise<void>[] = [];
  const order = { next: 0 };
  const start = ctx.clock.mono();
  let seq = 0;
  for (const offset of sendOffsets(spec, random)) {
    const scheduled = start + offset;
    const wait = scheduled - ctx.clock.mono();
    if (wait > 0) {
      try {
        await ctx.clock.sleep(wait, ctx.signal);
      } catch {
        break;
      }
    }
    if (ctx.signal.aborted) break;
    const startedMono = ctx.clock.mono();
    const sample: Sample = {
      seq,
      sent_at: ctx.clock.now(),
      rtt_ms: null,
      send_error_ms: startedMono - scheduled,
    };
    samples.push(sample);
    settling.push(settle(sample, startedMono, spec.loss_timeout_ms, ctx, attempt, order));
    seq += 1;
  }
  await Promise.all(settling);
  return samples;
}

async function settle(
  sample: Sample,
  startedMono: number,
  lossTimeoutMs: number,
  ctx: ProbeContext,
  attempt: Attempt,
  order: { next: number },
): Promise<void> {
  const timeout = new AbortController();
  const stopTimer = new AbortController();
  ctx.clock
    .sleep(lossTimeoutMs, stopTimer.signal)
    .then(() => timeout.abort(new Error(`no answer within ${lossTimeoutMs} ms`)))
    .catch(() => undefined);
  const signal = AbortSignal.any([ctx.signal, timeout.signal]);

  let outcome: AttemptOutcome | undefined;
  try {
    outcome = await attempt(signal);
  } catch (err) {
    const kind =
      timeout.signal.aborted || ctx.signal.aborted ? { kind: "loss" as const } : classifyNetError(err);
    if (kind.kind === "outage") sample.loss_reason = kind.reason;
    else if (kind.kind === "fault")
      reportFault(ctx.facts, { code: kind.code, message: (err as Error).message });
    ctx.log.debug({ seq: sample.seq, err: (err as Error).message, kind: kind.kind }, "attempt lost");
  }
  const rtt = ctx.clock.mono() - startedMono;
  if (outcome?.ok && rtt <= lossTimeoutMs) {
    sample.rtt_ms = rtt;
    sample.arrival = order.next++;
  }
  ctx.onSample?.(sample);
  // Cleanup stays bounded by the loss timeout (the attempt's signal); its failure changes nothing measured.
  await outcome?.done?.catch(() => undefined);
  stopTimer.abort();
}
