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
  private readonly deps: SchedulerDeps;
  /** One entry per test id: its plan, its own abort controller and the runs it has in flight. */
  private readonly entries = new Map<string, Entry>();
  private started = false;

  constructor(plans: TestPlan[], deps: SchedulerDeps) {
    this.deps = deps;
    for (const plan of plans) this.entries.set(plan.test.id, newEntry(plan));
  }

  start(): void {
    this.started = true;
    for (const entry of this.entries.values()) this.startEntry(entry);
    this.deps.log.info(
      { tests: [...this.entries.keys()] },
      `scheduler started with ${this.entries.size} tests`,
    );
  }

  /** Abort every run in flight and wait for them to hand in their (aborted) results. */
  async stop(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.started = false;
    await Promise.all(all.map((e) => this.stopEntry(e)));
  }

  /**
   * Move to a new set of plans (a configuration reload): a test whose plan is unchanged keeps running —
   * its interval in flight is not aborted and its phase stays; a changed test is stopped (its run
   * aborted) and started anew; a removed one is stopped; a new one started.
   */
  async apply(
    plans: TestPlan[],
  ): Promise<{ kept: string[]; restarted: string[]; added: string[]; removed: string[] }> {
    const next = new Map(plans.map((p) => [p.test.id, p]));
    const out = {
      kept: [] as string[],
      restarted: [] as string[],
      added: [] as string[],
      removed: [] as string[],
    };
    const stopping: Promise<void>[] = [];
    for (const [id, entry] of this.entries) {
      const plan = next.get(id);
      if (plan && planKey(plan) === entry.key) {
        out.kept.push(id);
        continue;
      }
      (plan ? out.restarted : out.removed).push(id);
      this.entries.delete(id);
      stopping.push(this.stopEntry(entry));
    }
    await Promise.all(stopping);
    for (const [id, plan] of next) {
      if (this.entries.has(id)) continue;
      if (!out.restarted.includes(id)) out.added.push(id);
      const entry = newEntry(plan);
      this.entries.set(id, entry);
      if (this.started) this.startEntry(entry);
    }
    this.deps.log.info(out, "scheduler applied a new plan");
    return out;
  }

  /** Runs in flight right now (for status and tests). */
  get inFlight(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.running.size;
    return n;
  }

  private startEntry(entry: Entry): void {
    const { plan } = entry;
    if (plan.test.continuous) entry.loop = this.continuous(entry, plan.test.continuous.interval_s * 1000);
    else if (plan.test.scheduled) entry.task = this.scheduled(entry, plan.test.scheduled);
  }

  private async stopEntry(entry: Entry): Promise<void> {
    await entry.task?.destroy();
    entry.controller.abort(new Error("scheduler stopping"));
    await Promise.allSettled([entry.loop, ...entry.running]);
  }

  private launch(entry: Entry, order: RunOrder): void {
    const p = this.deps.run(order).catch((err: unknown) => {
      this.deps.log.error({ err, test: order.plan.test.id }, "run failed unexpectedly");
    });
    entry.running.add(p);
    p.finally(() => entry.running.delete(p));
  }

  private async continuous(entry: Entry, intervalMs: number): Promise<void> {
    const { clock, log } = this.deps;
    const { plan } = entry;
    const signal = entry.controller.signal;
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
      this.launch(entry, {
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

  private scheduled(entry: Entry, s: NonNullable<TestPlan["test"]["scheduled"]>): ScheduledTask {
    const { log } = this.deps;
    const { plan } = entry;
    const count = Math.max(1, Math.round(plan.test.rate_pps * s.duration_s));
    const task = cron.schedule(
      s.cron,
      async () => {
        const signal = entry.controller.signal;
        if (signal.aborted) return;
        let done!: () => void;
        const finished = new Promise<void>((resolve) => {
          done = resolve;
        });
        entry.running.add(finished);
        try {
          await this.deps.run({ plan, count, interval_ms: 1000 / plan.test.rate_pps, signal });
        } catch (err) {
          log.error({ err, test: plan.test.id }, "run failed unexpectedly");
        } finally {
          entry.running.delete(finished);
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
    return task;
  }
}

interface Entry {
  plan: TestPlan;
  /** What the test would measure, as text: equal keys mean a reload leaves the test running. */
  key: string;
  controller: AbortController;
  running: Set<Promise<void>>;
  loop?: Promise<void>;
  task?: ScheduledTask;
}

function newEntry(plan: TestPlan): Entry {
  return { plan, key: planKey(plan), controller: new AbortController(), running: new Set() };
}

/** A plan's identity for reloads: the test, both sites (keys, addresses) and the resolved target. */
export function planKey(plan: TestPlan): string {
  return JSON.stringify(plan);
}
