import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../agent/clock.js";
import type { TestPlan } from "../../../agent/config/pairs.js";
import { silentLogger } from "../../../agent/log.js";
import { type RunOrder, Scheduler } from "../../../agent/schedule.js";

function plan(over: Partial<TestPlan["test"]> = {}): TestPlan {
  return {
    test: {
      id: "bj-gz-stamp",
      method: "stamp",
      from: "bj",
      to: "gz",
      profile: "internet-3.2.2",
      diagnostic: false,
      rate_pps: 2,
      packet_size_bytes: 128,
      dscp: 0,
      schedule: "periodic",
      loss_timeout_ms: 3000,
      continuous: { interval_s: 10 },
      ...over,
    },
    from: {} as TestPlan["from"],
    target: { method: "stamp", host: "127.0.0.1", port: 862 },
    target_text: "stamp://127.0.0.1:862",
  };
}

describe("Scheduler, continuous tests", () => {
  it("runs one wall-clock-aligned interval after another, at a fixed random phase", async () => {
    // Start at 00:00:03 UTC: the first whole 10 s interval is [00:00:10, 00:00:20).
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 3));
    const orders: { order: RunOrder; at: number }[] = [];
    const scheduler = new Scheduler([plan()], {
      clock,
      log: silentLogger(),
      random: () => 0.5,
      run: async (order) => {
        orders.push({ order, at: clock.now() });
      },
    });
    scheduler.start();
    await clock.advance(28_000); // to 00:00:31: runs start at 00:00:10.25, 00:00:20.25 and 00:00:30.25
    await scheduler.stop();

    const t0 = Date.UTC(2026, 0, 1, 0, 0, 10);
    // 2 pps → gap 500 ms; phase = 0.5 × min(500, 10 000) = 250 ms; 2 pps × 10 s = 20 packets.
    expect(orders.map((o) => o.order.window)).toEqual([
      { start_ms: t0, end_ms: t0 + 10_000 },
      { start_ms: t0 + 10_000, end_ms: t0 + 20_000 },
      { start_ms: t0 + 20_000, end_ms: t0 + 30_000 },
    ]);
    expect(orders.map((o) => o.at)).toEqual([t0 + 250, t0 + 10_250, t0 + 20_250]);
    expect(orders.every((o) => o.order.count === 20 && o.order.interval_ms === 500)).toBe(true);
  });

  it("aborts the runs in flight on stop and waits for them", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const events: string[] = [];
    const scheduler = new Scheduler([plan()], {
      clock,
      log: silentLogger(),
      random: () => 0,
      run: (order) =>
        new Promise<void>((resolve) => {
          events.push("started");
          order.signal.addEventListener("abort", () => {
            events.push("aborted");
            resolve();
          });
        }),
    });
    scheduler.start();
    await clock.advance(1); // boundary at 00:00:00 is now → first run starts immediately
    expect(scheduler.inFlight).toBe(1);
    await scheduler.stop();
    expect(events).toEqual(["started", "aborted"]);
    expect(scheduler.inFlight).toBe(0);
  });
});

describe("Scheduler.apply (configuration reload)", () => {
  it("keeps an unchanged test's interval in flight, restarts a changed one, stops a removed one", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const events: string[] = [];
    const run = (order: RunOrder) =>
      new Promise<void>((resolve) => {
        const tag = `${order.plan.test.id}@${order.plan.test.rate_pps}`;
        events.push(`start ${tag}`);
        order.signal.addEventListener("abort", () => {
          events.push(`abort ${tag}`);
          resolve();
        });
      });
    const a = plan({ id: "a" });
    const b = plan({ id: "b" });
    const c = plan({ id: "c" });
    const scheduler = new Scheduler([a, b, c], { clock, log: silentLogger(), random: () => 0, run });
    scheduler.start();
    await clock.advance(1); // every test's first interval is now in flight
    expect(scheduler.inFlight).toBe(3);

    const report = await scheduler.apply([a, plan({ id: "b", rate_pps: 4 }), plan({ id: "d" })]);
    await clock.advance(1);
    expect(report).toEqual({ kept: ["a"], restarted: ["b"], added: ["d"], removed: ["c"] });
    // a's run was never aborted; b's old run was, c's too; new b (4 pps) and d wait for the next boundary.
    expect(events).toEqual(["start a@2", "start b@2", "start c@2", "abort b@2", "abort c@2"]);
    expect(scheduler.inFlight).toBe(1);
    await clock.advance(10_000);
    expect(events.slice(5).sort()).toEqual(["start a@2", "start b@4", "start d@2"]);
    await scheduler.stop();
  });
});

describe("Scheduler, scheduled (cron) tests", () => {
  it("runs on the cron schedule with rate × duration packets and skips, not queues, an overlapping run", async () => {
    const orders: RunOrder[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const scheduler = new Scheduler(
      [
        plan({
          continuous: undefined,
          scheduled: { cron: "* * * * * *", duration_s: 3, jitter_s: 0 },
          rate_pps: 10,
        }),
      ],
      {
        clock: new FakeClock(),
        log: silentLogger(),
        // The first run hangs until released, so the next ticks find it still running.
        run: async (order) => {
          orders.push(order);
          await blocked;
        },
      },
    );
    scheduler.start();
    await new Promise((r) => setTimeout(r, 2_600)); // two or three cron ticks (every second)
    expect(orders).toHaveLength(1); // later ticks were skipped while the first run was busy
    expect(orders[0]).toMatchObject({ count: 30, interval_ms: 100 }); // 10 pps × 3 s, 100 ms apart
    expect(orders[0]?.window).toBeUndefined(); // a scheduled run reports its own start and end
    release();
    await scheduler.stop();
  });
});
