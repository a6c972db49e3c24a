import type { ProbeContext, ProbeSpec, Sample } from "./prober.js";
import { nextGapMs } from "./stamp/sender.js";

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
 * Run `spec.count` attempts on the spec's schedule (periodic or Poisson), overlapping when one takes
 * longer than the gap, as a packet stream would. RTT = the monotonic time from starting an attempt to
 * its resolving; an attempt that throws, is not ok, or outlives `loss_timeout_ms` is lost. On abort no
 * further attempts start, those in flight are lost, and the samples of every started attempt return.
 * Sequence numbers start at 0, like STAMP's.
 */
export async function runAttempts(
  spec: Pick<ProbeSpec, "count" | "interval_ms" | "schedule" | "loss_timeout_ms">,
  ctx: ProbeContext,
  attempt: Attempt,
  random: () => number = Math.random,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const settling: Promise<void>[] = [];
  const order = { next: 0 };
  let scheduled = ctx.clock.mono();
  for (let seq = 0; seq < spec.count; seq++) {
    if (seq > 0) scheduled += nextGapMs(spec, random);
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
    ctx.log.debug({ seq: sample.seq, err: (err as Error).message }, "attempt lost");
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
