import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { ResultMessage } from "../../../agent/publish/message.js";
import { Ingest } from "../../../collector/ingest.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import type { MigrationReport, ResultStore } from "../../../collector/store/store.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

const MINUTE = 60_000;
const at = (iso: string, plusMinutes = 0) => new Date(Date.parse(iso) + plusMinutes * MINUTE).toISOString();

describe.each(backends)("result store on $name", (backend) => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};
  let firstMigration: MigrationReport;

  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
    firstMigration = await store.migrate();
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  it("applies every shipped migration once; a second run applies nothing", async () => {
    const versions = (await loadMigrations()).map((m) => m.version);
    const last = versions.at(-1);
    expect(versions).toEqual(versions.map((_, i) => i + 1));
    expect(firstMigration).toEqual({ applied: versions, current: last, known: last });
    expect(await store.migrate()).toEqual({ applied: [], current: last, known: last });
  });

  it("stores a redelivered result once", async () => {
    const msg = makeResult({ operator: "op-dup", intervalStart: "2026-02-01T00:00:00.000Z" });
    expect(await store.insertResults([msg])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    expect(await store.insertResults([msg])).toEqual({ inserted: 0, duplicates: 1, refused: [] });
    const rows = await store.queryResults({
      from: new Date("2026-02-01T00:00:00Z"),
      to: new Date("2026-02-02T00:00:00Z"),
      operator: "op-dup",
    });
    expect(rows.map((r) => r.id)).toEqual([msg.id]);
  });

  it("stores a result whose interval start rounds (to PostgreSQL's microseconds) into the next month", async () => {
    // The schema takes any number of fraction digits; PostgreSQL rounds to microseconds and Date.parse
    // truncates to milliseconds, so this start is stored as 2027-08-01T00:00:00Z while the partition
    // made for it was July's: the batch failed with "no partition of relation results found for row"
    // on every retry, stalling ingest.
    const m = makeResult({ operator: "op-month-edge", intervalStart: "2027-07-31T23:59:00.000Z" });
    m.interval.start = "2027-07-31T23:59:59.9999995Z";
    const msg = ResultMessage.parse(m);
    expect(await store.insertResults([msg])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    const rows = await store.queryResults({
      from: new Date("2027-08-01T00:00:00Z"),
      to: new Date("2027-08-02T00:00:00Z"),
      operator: "op-month-edge",
    });
    expect(rows.map((r) => r.payload.id)).toEqual([msg.id]);
  });

  it("counts a repeat inside one batch as a duplicate", async () => {
    const a = makeResult({ operator: "op-batchdup" });
    const b = makeResult({ operator: "op-batchdup", seq: 2, intervalStart: "2026-01-15T00:01:00.000Z" });
    // [a, a, b]: a and b are new (2), the second a is a duplicate (1).
    expect(await store.insertResults([a, a, b])).toEqual({ inserted: 2, duplicates: 1, refused: [] });
  });

  it("inserts a batch of 1,000 and reads it back by period", async () => {
    const start = "2026-03-01T00:00:00.000Z";
    const msgs = Array.from({ length: 1000 }, (_, i) =>
      makeResult({ operator: "op-bulk", seq: i + 1, intervalStart: at(start, i) }),
    );
    expect(await store.insertResults(msgs)).toEqual({ inserted: 1000, duplicates: 0, refused: [] });
    // Intervals start every minute from 00:00; [00:00, 00:00 + 500 min) holds exactly the first 500.
    const half = await store.queryResults({
      from: new Date(start),
      to: new Date(at(start, 500)),
      operator: "op-bulk",
    });
    expect(half).toHaveLength(500);
    expect(half[0]?.seq).toBe(1);
    expect(half[499]?.seq).toBe(500);
    const all = await store.queryResults({
      from: new Date(start),
      to: new Date(at(start, 1000)),
      operator: "op-bulk",
    });
    expect(all).toHaveLength(1000);
  });

  it("selects by period, operator and site", async () => {
    const day = "2026-04-01T10:00:00.000Z";
    const bj0 = makeResult({ operator: "op-q1", site: "bj-01", intervalStart: at(day, 0) });
    const bj5 = makeResult({ operator: "op-q1", site: "bj-01", intervalStart: at(day, 5) });
    const bj10 = makeResult({ operator: "op-q1", site: "bj-01", intervalStart: at(day, 10) });
    const sh5 = makeResult({ operator: "op-q1", site: "sh-01", province: "SH", intervalStart: at(day, 5) });
    const other5 = makeResult({ operator: "op-q2", site: "bj-01", intervalStart: at(day, 5) });
    await store.insertResults([bj10, other5, sh5, bj5, bj0]);
    const period = { from: new Date(day), to: new Date(at(day, 10)) };

    // [10:00, 10:10) excludes the 10:10 interval; ordered by start, then site.
    const q1 = await store.queryResults({ ...period, operator: "op-q1" });
    expect(q1.map((r) => r.id)).toEqual([bj0.id, bj5.id, sh5.id]);
    const q1bj = await store.queryResults({ ...period, operator: "op-q1", site: "bj-01" });
    expect(q1bj.map((r) => r.id)).toEqual([bj0.id, bj5.id]);
    const everyone = await store.queryResults(period);
    expect(everyone).toHaveLength(4);
  });

  it("keeps the message's values in typed columns and the whole message in payload", async () => {
    const msg = makeResult({
      operator: "op-cols",
      seq: 4_000_000_000,
      intervalStart: "2026-05-01T08:00:00.000Z",
    });
    await store.insertResults([msg]);
    const [row] = await store.queryResults({
      from: new Date("2026-05-01T08:00:00Z"),
      to: new Date("2026-05-01T08:01:00Z"),
      operator: "op-cols",
    });
    expect(row).toBeDefined();
    if (!row) return;
    // From the factory: 600 sent, 594 received → lost 6, loss 6/600 = 0.01; mean 38.5 → p95 = 38.5 + 3.
    expect(row.seq).toBe(4_000_000_000);
    expect(row.lost).toBe(6);
    expect(row.loss_ratio).toBeCloseTo(0.01, 12);
    expect(row.rtt_p95_ms).toBe(41.5);
    expect(row.dv_max_minus_min_ms).toBe(12);
    expect(row.peer_site).toBe("gz-01");
    expect(row.distance_km).toBe(1890.4);
    expect(row.interval_start.toISOString()).toBe("2026-05-01T08:00:00.000Z");
    expect(row.interval_end.toISOString()).toBe("2026-05-01T08:01:00.000Z");
    expect(row.verdict_loss).toBe("pass");
    expect(row.payload).toEqual(msg);
  });

  it("stores absent values as SQL NULL and text with quotes, backslashes and CJK intact", async () => {
    const base = makeResult({
      operator: "op-null",
      sent: 600,
      received: 0,
      intervalStart: "2026-05-02T08:00:00.000Z",
    });
    const { peer: _peer, distance_km: _distance, ...test } = base.test;
    const none = { min: null, mean: null, median: null, p95: null, p99: null, max: null, stddev: null };
    const msg = ResultMessage.parse({
      ...base,
      test: { ...test, target: 'stamp://"北京"\\a,{b}:862' },
      status: "error",
      error: { code: "PROBE_TARGET", message: 'resolve "gz-01" failed: \\ 广州 {x,y}' },
      loss_ratio: null,
      rtt_ms: none,
      delay_variation_ms: { ...base.delay_variation_ms, max_minus_min: null },
    });
    await store.insertResults([msg]);
    const [row] = await store.queryResults({
      from: new Date("2026-05-02T08:00:00Z"),
      to: new Date("2026-05-02T08:01:00Z"),
      operator: "op-null",
    });
    // 600 sent, 0 received → lost 600.
    expect(row).toMatchObject({
      status: "error",
      target: 'stamp://"北京"\\a,{b}:862',
      lost: 600,
      peer_site: null,
      peer_province: null,
      distance_km: null,
      loss_ratio: null,
      rtt_mean_ms: null,
      rtt_p99_ms: null,
      dv_max_minus_min_ms: null,
    });
    expect(row?.payload).toEqual(msg);
  });

  it("writes malformed and unknown-schema messages to rejects with their reasons", async () => {
    const ingest = new Ingest({ store, log: silentLogger(), batchSize: 10 });
    const good = makeResult({ operator: "op-rej" });
    const topic = resultTopic(good);
    const newer = JSON.stringify({ ...good, schema: "qosprobe.result/2" });
    const outcomes = await Promise.all([
      ingest.accept(topic, Buffer.from("{not json")),
      ingest.accept(topic, Buffer.from(newer)),
      ingest.accept(topic, Buffer.from(JSON.stringify(good))),
      ingest.stop(),
    ]);
    expect(outcomes.slice(0, 3)).toEqual(["rejected", "rejected", "stored"]);
    expect(ingest.counters()).toMatchObject({ accepted: 1, stored: 1, rejected: 2, duplicates: 0 });

    const now = Date.now();
    const rows = (
      await store.queryRejects({ from: new Date(now - 3_600_000), to: new Date(now + 3_600_000) })
    ).filter((r) => r.topic === topic);
    expect(rows.map((r) => r.reason.split(":")[0])).toEqual([
      "invalid JSON",
      "unsupported schema qosprobe.result/2",
    ]);
    expect(Buffer.from(rows[0]?.raw ?? []).toString()).toBe("{not json");
    expect(rows[0]?.raw_size).toBe(9);
    expect(rows[1]?.raw_size).toBe(Buffer.byteLength(newer));
  });

  it("rejects a result with a NUL escape and stores the rest of its batch (jsonb refused the whole batch)", async () => {
    const ingest = new Ingest({ store, log: silentLogger(), batchSize: 10 });
    const good = makeResult({ operator: "op-nul", seq: 1 });
    const bad = makeResult({ operator: "op-nul", seq: 2, intervalStart: at(good.interval.start, 1) });
    const topic = resultTopic(good);
    const badText = JSON.stringify({ ...bad, agent: { ...bad.agent, version: "1\u0000" } });
    expect(badText).toContain("\\u0000");
    const outcomes = await Promise.all([
      ingest.accept(topic, Buffer.from(badText)),
      ingest.accept(topic, Buffer.from(JSON.stringify(good))),
      ingest.stop(),
    ]);
    expect(outcomes.slice(0, 2)).toEqual(["rejected", "stored"]);
    expect(ingest.counters()).toMatchObject({ stored: 1, rejected: 1, store_errors: 0 });
    const now = Date.now();
    const rows = (
      await store.queryRejects({ from: new Date(now - 3_600_000), to: new Date(now + 3_600_000) })
    ).filter((r) => r.topic === topic);
    expect(rows.map((r) => r.reason.split(":")[0])).toEqual(["agent.version"]);
    expect(Buffer.from(rows[0]?.raw ?? []).toString()).toBe(badText);
  });

  it("keeps a site's last heartbeat when its Last Will marks it offline", async () => {
    const heartbeat = new Date("2026-06-01T12:00:00.000Z");
    await store.upsertStatus({
      operator: "op-st",
      province: "BJ",
      site: "bj-01",
      state: "online",
      last_heartbeat: heartbeat,
      outbox_depth: 3,
      dropped: 0,
      version: "0.1.0",
      config_version: "c-7",
      payload: { state: "online" },
    });
    await store.upsertStatus({ operator: "op-st", province: "BJ", site: "bj-01", state: "offline" });
    const site = (await store.listSites()).find((s) => s.operator === "op-st");
    expect(site).toMatchObject({
      state: "offline",
      outbox_depth: 3,
      dropped: 0,
      version: "0.1.0",
      config_version: "c-7",
      payload: { state: "online" },
    });
    expect(site?.last_heartbeat?.toISOString()).toBe("2026-06-01T12:00:00.000Z");
  });

  it("keeps the hourly rollup in step with the windows as a window fills over three batches", async () => {
    // Three 60 s intervals of one 5-minute window, one per batch: the window is measured (≥ 150 s of
    // probes) only after the third; then a redelivery, which must change nothing.
    const start = "2026-05-01T10:00:00.000Z";
    const r = [0, 1, 2].map((i) =>
      makeResult({ seq: 900 + i, testId: "hour-fill", intervalStart: at(start, i), sent: 60, received: 20 }),
    );
    const hour = Date.parse(start);
    const measured = async (from_ms: number, to_ms: number) =>
      (await store.queryAggregates({ bucket_starts: [from_ms], from_ms, to_ms }))
        .filter((a) => a.test_id === "hour-fill")
        .map((a) => [a.results, a.measured, a.available]);
    await store.insertResults([r[0]!]);
    await store.insertResults([r[1]!]);
    // Whole UTC hours read window_hours; a range starting on the half hour reads the windows.
    expect(await measured(hour, hour + 3_600_000)).toEqual([[2, 0, 0]]);
    await store.insertResults([r[2]!]);
    // 40 of 60 lost each minute: 66.7 % ≤ 75 %, so the measured window is available.
    expect(await measured(hour, hour + 3_600_000)).toEqual([[3, 1, 1]]);
    await store.insertResults([r[2]!, r[0]!]);
    expect(await measured(hour, hour + 3_600_000)).toEqual([[3, 1, 1]]);
    expect(await measured(hour - 1_800_000, hour + 1_800_000)).toEqual([[3, 1, 1]]);
  });
});
