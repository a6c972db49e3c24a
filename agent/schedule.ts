import cron, { type ScheduledTask } from "node-cron";
import type { Clock } from "./clock.js";
import type { TestPlan } from "./config/pairs.js";
import type { Logger } from "./log.js";

/** One run the scheduler asks for: how many packets, and which interval the result stands for. */
export interface RunOrder {
  plan: TestPlan;
  count: number;
  interval_ms: number;
  /** Aligned interval for continuous tests; absent for scheduled runs (their own start/end). */
  window?: { start_ms: number; end_ms: number };
  signal: AbortSignal;
}

export interface SchedulerDeps {
  clock: Clock;
  log: Logger;
  /** Runs one measurement and hands its result on; must not throw for measurement problems. */
  run(order: RunOrder): Promise<void>;
  /** Uniform [0, 1); injectable so tests can pin the random start offsets. */
  random?: () => number;
}

/**
 * Turns test plans into runs. Continuous tests produce one result per wall-clock-aligned interval (so
 * collectors can cut 5-minute windows) with a random phase inside the first packet gap, so a mesh of
 * agents does not send in lock-step. Scheduled tests follow node-cron with a random start delay and
 * never overlap their own previous run. Every run gets an AbortSignal; stop() aborts and waits.
 */
export class Scheduler {
  private readonly plans: TestPlan[];
  private readonly deps: SchedulerDeps;
  private controller = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly loops: Promise<void>[] = [];
  private readonly cronTasks: ScheduledTask[] = [];

  constructor(plans: TestPlan[], deps: SchedulerDeps) {
    this.plans = plans;
    this.deps = deps;
  }

  start(): void {
    this.controller = new AbortController();
    for (const plan of this.plans) {
      if (plan.test.continuous)
        this.loops.push(this.continuous(plan, plan.test.continuous.interval_s * 1000));
      else if (plan.test.scheduled) this.scheduled(plan, plan.test.scheduled);
    }
    this.deps.log.info(
      { tests: this.plans.map((p) => p.test.id) },
      `scheduler started with ${this.plans.length} tests`,
    );
  }

  /** Abort every run in flight and wait for them to hand in their (aborted) results. */
  async stop(): Promise<void> {
    for (const task of this.cronTasks.splice(0)) await task.destroy();
    this.controller.abort(new Error("scheduler stopping"));
    await Promise.allSettled([...this.loops.splice(0), ...this.running]);
  }

  /** Runs in flight right now (for status and tests). */
  get inFlight(): number {
    return this.running.size;
  }

  private launch(order: RunOrder): void {
    const p = this.deps.run(order).catch((err: unknown) => {
      this.deps.log.error({ err, test: order.plan.test.id }, "run failed unexpectedly");
    });
    this.running.add(p);
    p.finally(() => this.running.delete(p));
  }

  private async continuous(plan: TestPlan, intervalMs: number): Promise<void> {
    const { clock, log } = this.deps;
    const signal = this.controller.signal;
    const gapMs = 1000 / plan.test.rate_pps;
    const count = Math.max(1, Math.round((plan.test.rate_pps * intervalMs) / 1000));
    // The phase stays fixed for this agent's lifetime so every interval sees the same sending pattern.
    const phaseMs = (this.deps.random ?? Math.random)() * Math.min(gapMs, intervalMs);
    // Start at the next boundary: a partial first interval would be a misleading result.
    let boundary = Math.ceil(clock.now() / intervalMs) * intervalMs;
    while (!signal.aborted) {
      try {
        await clock.sleep(boundary + phaseMs - clock.now(), signal);
      } catch {
        return; // aborted while waiting
      }
      this.launch({
        plan,
        count,
        interval_ms: gapMs,
        window: { start_ms: boundary, end_ms: boundary + intervalMs },
        signal,
      });
      const next = boundary + intervalMs;
      // If the host stalled past whole intervals (suspend, clock step), skip to the current one and say so.
      const now = clock.now();
      boundary = now >= next + intervalMs ? Math.ceil(now / intervalMs) * intervalMs : next;
      if (boundary !== next)
        log.warn({ test: plan.test.id, skipped_to: new Date(boundary).toISOString() }, "intervals skipped");
    }
  }

  private scheduled(plan: TestPlan, s: NonNullable<TestPlan["test"]["scheduled"]>): void {
    const { log } = this.deps;
    const count = Math.max(1, Math.round(plan.test.rate_pps * s.duration_s));
    const task = cron.schedule(
      s.cron,
      async () => {
        const signal = this.controller.signal;
        if (signal.aborted) return;
        let done!: () => void;
        const finished = new Promise<void>((resolve) => {
          done = resolve;
        });
        this.running.add(finished);
        try {
          await this.deps.run({ plan, count, interval_ms: 1000 / plan.test.rate_pps, signal });
        } catch (err) {
          log.error({ err, test: plan.test.id }, "run failed unexpectedly");
        } finally {
          this.running.delete(finished);
          done();
        }
      },
      {
        name: `qos-probe:${plan.test.id}`,
        noOverlap: true,
        maxRandomDelay: s.jitter_s * 1000,
        timezone: "UTC",
        // node-cron prints its own coloured lines to the console; ours are JSON, and we log overlaps ourselves.
        logger: {
          info: (m) => log.debug({ test: plan.test.id }, `node-cron: ${m}`),
          warn: (m) => log.debug({ test: plan.test.id }, `node-cron: ${m}`),
          error: (m) => log.error({ test: plan.test.id }, `node-cron: ${String(m)}`),
          debug: (m) => log.debug({ test: plan.test.id }, `node-cron: ${String(m)}`),
        },
      },
    );
    task.on("execution:overlap", () => {
      log.warn({ test: plan.test.id }, "previous run still going: this run is skipped, not queued");
    });
    this.cronTasks.push(task);
  }
}
