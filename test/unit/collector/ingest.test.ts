import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../../agent/clock.js";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { Ingest } from "../../../collector/ingest.js";
import type {
  InsertReport,
  RejectInput,
  ResultStore,
  SiteStatusInput,
} from "../../../collector/store/store.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";

/**
 * An in-memory store recording each call: the batching logic is what is under test here; the SQL is
 * tested against real PostgreSQL and PGlite in test/integration/collector/store.test.ts.
 */
class MemoryStore implements ResultStore {
  readonly ids = new Set<string>();
  readonly resultBatches: string[][] = [];
  readonly rejectBatches: RejectInput[][] = [];
  /** Calls to fail before succeeding again. */
  failNext = 0;
  /** When set, result writes wait for it: a write "in progress". */
  gate: Promise<void> | null = null;

  async migrate() {
    return { applied: [], current: 1, known: 1 };
  }
  async schemaVersion() {
    return { current: 1, needed: 1 };
  }
  async insertResults(msgs: readonly ResultMessage[]): Promise<InsertReport> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("connection refused");
    }
    this.resultBatches.push(msgs.map((m) => m.id));
    if (this.gate) await this.gate;
    let inserted = 0;
    for (const m of msgs) {
      if (!this.ids.has(m.id)) inserted += 1;
      this.ids.add(m.id);
    }
    return { inserted, duplicates: msgs.length - inserted, refused: [] };
  }
  async rebuildWindows(): Promise<void> {}
  async queryAggregates() {
    return [];
  }
  async queryEvidence() {
    return [];
  }
  async queryFaults() {
    return [];
  }
  async insertRejects(rows: readonly RejectInput[]): Promise<void> {
    this.rejectBatches.push([...rows]);
  }
  async upsertStatus(_s: SiteStatusInput): Promise<void> {}
  async queryResults() {
    return [];
  }
  async queryRejects() {
    return [];
  }
  async listSites() {
    return [];
  }
  async storedSeqs() {
    return [];
  }
  async seqIslands() {
    return [];
  }
  async close(): Promise<void> {}
}

/** A store with the catch-up pass (migration 007): each call takes the next outcome, then returns 0. */
class RollupStore extends MemoryStore {
  calls = 0;
  outcomes: (number | Error)[] = [];
  async rollup(): Promise<number> {
    this.calls += 1;
    const next = this.outcomes.shift() ?? 0;
    if (next instanceof Error) throw next;
    return next;
  }
}

const body = (m: ResultMessage) => Buffer.from(JSON.stringify(m));
/** Let promise callbacks (a flush's awaits) run. */
const settle = () => new Promise((r) => setImmediate(r));

describe("Ingest", () => {
  let ingest: Ingest | undefined;
  afterEach(async () => {
    await ingest?.stop();
    ingest = undefined;
  });

  it("writes a batch when batchSize messages wait", async () => {
    const store = new MemoryStore();
    ingest = new Ingest({ store, log: silentLogger(), clock: new FakeClock(), batchSize: 3 });
    const msgs = [makeResult({ seq: 1 }), makeResult({ seq: 2 }), makeResult({ seq: 3 })];
    const first = msgs.slice(0, 2).map((m) => ingest?.accept(resultTopic(m), body(m)));
    await settle();
    expect(store.resultBatches).toEqual([]); // 2 < 3: still waiting
    const third = ingest.accept(resultTopic(msgs[2]!), body(msgs[2]!));
    expect(await Promise.all([...first, third])).toEqual(["stored", "stored", "stored"]);
    expect(store.resultBatches).toEqual([msgs.map((m) => m.id)]);
    expect(ingest.counters()).toEqual({
      accepted: 3,
      stored: 3,
      duplicates: 0,
      rejected: 0,
      store_errors: 0,
      refused: 0,
      rolled_up: 0,
      rollup_errors: 0,
    });
  });

  it("hands each committed batch to onStored once, with the write's duration in ms", async () => {
    const store = new MemoryStore();
    const calls: { seqs: number[]; ms: number }[] = [];
    ingest = new Ingest({
      store,
      log: silentLogger(),
      clock: new FakeClock(),
      batchSize: 2,
      onStored: (msgs, batch) => calls.push({ seqs: msgs.map((m) => m.seq), ms: batch.ms }),
    });
    const msgs = [makeResult({ seq: 7 }), makeResult({ seq: 8 })];
    await Promise.all(msgs.map((m) => ingest?.accept(resultTopic(m), body(m))));
    expect(calls.map((c) => c.seqs)).toEqual([[7, 8]]);
    expect(Number.isInteger(calls[0]?.ms)).toBe(true);
    expect(calls[0]?.ms).toBeGreaterThanOrEqual(0);
  });

  it("writes what waits every flushIntervalMs once started", async () => {
    const store = new MemoryStore();
    const clock = new FakeClock();
    ingest = new Ingest({ store, log: silentLogger(), clock, batchSize: 100, flushIntervalMs: 1000 });
    ingest.start();
    const m = makeResult();
    const outcome = ingest.accept(resultTopic(m), body(m));
    await clock.advance(999);
    await settle();
    expect(store.resultBatches).toHaveLength(0);
    await clock.advance(1); // the 1000 ms tick
    expect(await outcome).toBe("stored");
    expect(store.resultBatches).toEqual([[m.id]]);
  });

  it("counts a redelivery as a duplicate, and a bad payload as rejected with its reason", async () => {
    const store = new MemoryStore();
    ingest = new Ingest({ store, log: silentLogger(), clock: new FakeClock(), batchSize: 100 });
    const m = makeResult();
    const topic = resultTopic(m);
    const outcomes = [
      ingest.accept(topic, body(m)),
      ingest.accept(topic, body(m)),
      ingest.accept(topic, Buffer.from('{"schema":"qosprobe.result/9"}')),
    ];
    await ingest.flush();
    expect(await Promise.all(outcomes)).toEqual(["stored", "stored", "rejected"]);
    // One batch [m, m]: inserted 1, duplicate 1.
    expect(ingest.counters()).toMatchObject({ accepted: 2, stored: 1, duplicates: 1, rejected: 1 });
    expect(store.rejectBatches).toEqual([
      [
        {
          topic,
          reason: "unsupported schema qosprobe.result/9",
          raw: Buffer.from('{"schema":"qosprobe.result/9"}'),
        },
      ],
    ]);
  });

  it("keeps a batch the store refused and writes it on the next tick", async () => {
    const store = new MemoryStore();
    store.failNext = 1;
    const clock = new FakeClock();
    ingest = new Ingest({ store, log: silentLogger(), clock, batchSize: 100, flushIntervalMs: 500 });
    ingest.start();
    const m = makeResult();
    const outcome = ingest.accept(resultTopic(m), body(m));
    await clock.advance(500); // first write fails
    await settle();
    expect(ingest.counters()).toMatchObject({ store_errors: 1, stored: 0 });
    expect(ingest.pending()).toBe(1);
    await clock.advance(500); // second write succeeds
    expect(await outcome).toBe("stored");
    expect(ingest.counters()).toMatchObject({ store_errors: 1, stored: 1 });
    expect(ingest.pending()).toBe(0);
  });

  it("flushes on stop; what the store still refuses settles unstored; later deliveries are refused", async () => {
    const store = new MemoryStore();
    ingest = new Ingest({ store, log: silentLogger(), clock: new FakeClock(), batchSize: 100 });
    const a = makeResult({ seq: 1 });
    const stored = ingest.accept(resultTopic(a), body(a));
    await ingest.flush();
    const b = makeResult({ seq: 2 });
    store.failNext = 1;
    const unstored = ingest.accept(resultTopic(b), body(b));
    await ingest.stop();
    expect([await stored, await unstored]).toEqual(["stored", "unstored"]);
    expect(await ingest.accept(resultTopic(b), body(b))).toBe("unstored");
    expect(ingest.counters()).toMatchObject({ accepted: 2, stored: 1, store_errors: 1, refused: 1 });
  });

  it("refuses deliveries beyond maxPending until the store catches up", async () => {
    const store = new MemoryStore();
    ingest = new Ingest({ store, log: silentLogger(), clock: new FakeClock(), batchSize: 10, maxPending: 2 });
    const msgs = [1, 2, 3].map((seq) => makeResult({ seq }));
    const outcomes = msgs.map((m) => ingest?.accept(resultTopic(m), body(m)));
    // Two wait (below batchSize 10, so unwritten); the third finds 2 ≥ maxPending 2.
    expect(await outcomes[2]).toBe("unstored");
    await ingest.flush();
    expect(await Promise.all(outcomes.slice(0, 2))).toEqual(["stored", "stored"]);
    expect(ingest.counters()).toMatchObject({ accepted: 2, stored: 2, refused: 1 });
  });

  it("with groupCommit writes one turn's arrivals in one batch, and what arrives during that write in the next", async () => {
    const store = new MemoryStore();
    let open: () => void = () => {};
    store.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    ingest = new Ingest({
      store,
      log: silentLogger(),
      clock: new FakeClock(),
      batchSize: 100,
      groupCommit: true,
      writeConcurrency: 1,
    });
    const first = [1, 2, 3].map((seq) => makeResult({ seq }));
    const firstOut = first.map((m) => ingest?.accept(resultTopic(m), body(m)));
    await settle(); // end of the turn: one write of 1, 2, 3 starts (far below batchSize 100) and hangs
    expect(store.resultBatches).toEqual([first.map((m) => m.id)]);
    const later = [4, 5].map((seq) => makeResult({ seq }));
    const laterOut = later.map((m) => ingest?.accept(resultTopic(m), body(m)));
    await settle(); // 4 and 5 wait behind the running write
    expect(store.resultBatches).toHaveLength(1);
    open();
    expect(await Promise.all([...firstOut, ...laterOut])).toEqual(Array(5).fill("stored"));
    // 2 writes for 5 messages: [1, 2, 3] then [4, 5]
    expect(store.resultBatches).toEqual([first.map((m) => m.id), later.map((m) => m.id)]);
  });

  it("writes three batches at once by default; a fourth turn's arrivals wait for a free writer", async () => {
    const store = new MemoryStore();
    let open: () => void = () => {};
    store.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    ingest = new Ingest({
      store,
      log: silentLogger(),
      clock: new FakeClock(),
      batchSize: 100,
      groupCommit: true,
    });
    const turns = [[1, 2, 3], [4, 5], [6], [7, 8]].map((seqs) => seqs.map((seq) => makeResult({ seq })));
    const outcomes: Promise<string>[] = [];
    const batches: number[] = [];
    for (const turn of turns) {
      for (const m of turn) outcomes.push(ingest.accept(resultTopic(m), body(m)));
      await settle();
      batches.push(store.resultBatches.length);
    }
    // All three writers hang on the gate: turns 1–3 are written at once, turn 4 waits.
    expect(batches).toEqual([1, 2, 3, 3]);
    open();
    expect(await Promise.all(outcomes)).toEqual(Array(8).fill("stored"));
    expect(store.resultBatches).toEqual(turns.map((t) => t.map((m) => m.id)));
  });
  it("counts the timer's catch-up passes and their failures; no pass after stop's last one", async () => {
    const store = new RollupStore();
    store.outcomes = [new Error("connection refused"), new Error("connection refused"), 7];
    const clock = new FakeClock();
    ingest = new Ingest({ store, log: silentLogger(), clock, rollupIntervalMs: 1000 });
    ingest.start();
    await clock.advance(1000);
    await settle();
    await clock.advance(1000);
    await settle();
    // Two failed passes are visible in the counters (/healthz), not only in the log.
    expect(store.calls).toBe(2);
    expect(ingest.counters()).toMatchObject({ rollup_errors: 2, rolled_up: 0 });
    await clock.advance(1000);
    await settle();
    expect(store.calls).toBe(3);
    expect(ingest.counters()).toMatchObject({ rollup_errors: 2, rolled_up: 7 });
    await ingest.stop();
    expect(store.calls).toBe(4); // stop's own last pass
    await clock.advance(10_000);
    await settle();
    expect(store.calls).toBe(4);
  });
});
