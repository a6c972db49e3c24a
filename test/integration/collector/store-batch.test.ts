import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { Ingest } from "../../../collector/ingest.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { validateResult } from "../../../collector/validate.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * The one-statement batch INSERT (sql-store.ts INSERT_RESULTS_SQL: results, windows, hours, faults and
 * chains from RETURNING) with crafted batches. Messages are validated from bytes, as the collector's
 * MQTT subscriber hands them over, so the store sends the text received (validate.ts messageJson).
 */

const MINUTE = 60_000;
const at = (iso: string, plusMinutes = 0) => new Date(Date.parse(iso) + plusMinutes * MINUTE).toISOString();

/** A result validated from the UTF-8 bytes of `text` (default: its JSON), as ingest receives it. */
function received(m: ResultMessage, text = JSON.stringify(m)): ResultMessage {
  const v = validateResult(resultTopic(m), Buffer.from(text, "utf8"));
  if (!v.ok) throw new Error(v.reason);
  return v.message;
}

describe.each(backends)("batch insert of received results on $name", (backend) => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
    await store.migrate();
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  it("stores CJK, escapes and a byte order mark exactly, in columns and payload", async () => {
    const m = makeResult({ operator: "op-utf8", site: "bj-01", intervalStart: "2026-06-01T00:00:00.000Z" });
    m.status = "error";
    m.error = { code: "NET", message: 'route "lost" \\ 北京→广州 \u00e9' };
    const plain = received(m);
    const n = makeResult({
      operator: "op-utf8",
      site: "bj-01",
      seq: 2,
      intervalStart: at("2026-06-01T00:00:00.000Z", 1),
    });
    const withBom = received(n, `\ufeff${JSON.stringify(n)}`);
    expect(await store.insertResults([plain, withBom])).toEqual({ inserted: 2, duplicates: 0, refused: [] });
    const rows = await store.queryResults({
      from: new Date("2026-06-01T00:00:00Z"),
      to: new Date("2026-06-02T00:00:00Z"),
      operator: "op-utf8",
    });
    expect(rows.map((r) => r.id)).toEqual([m.id, n.id]);
    expect(rows.map((r) => r.status)).toEqual(["error", "ok"]);
    expect((rows[0]?.payload as ResultMessage | undefined)?.error?.message).toBe(
      'route "lost" \\ 北京→广州 é',
    );
    expect(rows[0]?.payload).toEqual(JSON.parse(JSON.stringify(m)));
    expect(rows[1]?.payload).toEqual(JSON.parse(JSON.stringify(n)));
  });

  it("counts duplicates in a batch, a redelivered batch and a second claim under another id; windows hold the hand-computed sums", async () => {
    const start = "2026-07-01T10:00:00.000Z";
    // One test, three 60 s intervals in the 10:00 window and one in 10:05.
    const spec = [
      { minute: 0, sent: 60, received: 60, rtt: 30 },
      { minute: 1, sent: 60, received: 45, rtt: 40 },
      { minute: 2, sent: 60, received: 30, rtt: 50 },
      { minute: 5, sent: 100, received: 99, rtt: 20 },
    ];
    const msgs = spec.map((s, i) =>
      received(
        makeResult({
          operator: "op-sums",
          testId: "sums",
          seq: i + 1,
          intervalStart: at(start, s.minute),
          sent: s.sent,
          received: s.received,
          rttMeanMs: s.rtt,
        }),
      ),
    );
    // Another id claiming minute 1's interval of the same test and site.
    const claim = received(
      makeResult({
        operator: "op-sums",
        testId: "sums",
        seq: 9,
        intervalStart: at(start, 1),
        sent: 60,
        received: 0,
      }),
    );
    const [m0, m1, m2, m3] = msgs as [ResultMessage, ResultMessage, ResultMessage, ResultMessage];
    // In one batch: m0 twice (a duplicate within the batch) and the claim after m1.
    const first = await store.insertResults([m0, m1, claim, m0, m2, m3]);
    expect(first.inserted).toBe(4);
    expect(first.duplicates).toBe(1);
    expect(first.refused.map((r) => r.id)).toEqual([claim.id]);
    expect(first.refused[0]?.reason).toContain(`already claimed by result ${m1.id}`);
    // The whole batch again: nothing new, the claim refused again, no rollup moves.
    const again = await store.insertResults([m3, m2, m1, m0, claim]);
    expect(again).toMatchObject({ inserted: 0, duplicates: 4 });
    expect(again.refused.map((r) => r.id)).toEqual([claim.id]);

    const from_ms = Date.parse(start);
    const rows = (
      await store.queryAggregates({
        bucket_starts: [from_ms, from_ms + 5 * MINUTE],
        from_ms,
        to_ms: from_ms + 10 * MINUTE,
      })
    )
      .filter((a) => a.test_id === "sums")
      .sort((a, b) => a.bucket - b.bucket);
    expect(
      rows.map((a) => [a.bucket, a.results, a.loss_n, a.sent, a.lost, a.rtt_n, a.measured, a.available]),
    ).toEqual([
      // 10:00: 180 sent, 0 + 15 + 30 lost; 180 s probed (≥ 150 s: measured); 45/180 = 25 % ≤ 75 %.
      [0, 3, 3, 180, 45, 3, 1, 1],
      // 10:05: one minute (60 s < 150 s): not measured.
      [1, 1, 1, 100, 1, 1, 0, 0],
    ]);
    // Means of the per-interval values: loss 0 + 0.25 + 0.5, RTT 30 + 40 + 50.
    expect(rows[0]?.loss_sum).toBeCloseTo(0.75, 12);
    expect(rows[0]?.rtt_sum).toBeCloseTo(120, 12);
    expect(rows[1]?.loss_sum).toBeCloseTo(0.01, 12);
    expect(rows[1]?.rtt_sum).toBeCloseTo(20, 12);
  });

  it("stores through Ingest what arrives as bytes, the refused claim in rejects with its reason", async () => {
    const ingest = new Ingest({ store, log: silentLogger(), batchSize: 100, groupCommit: true });
    ingest.start();
    const start = "2026-08-01T00:00:00.000Z";
    const msgs = Array.from({ length: 250 }, (_, i) =>
      makeResult({
        operator: "op-ingest-bytes",
        testId: `t${i % 5}`,
        seq: i + 1,
        intervalStart: at(start, Math.floor(i / 5)),
      }),
    );
    const twice = makeResult({ operator: "op-ingest-bytes", testId: "t0", seq: 999, intervalStart: start });
    const outcomes = await Promise.all([
      ...msgs.map((m) => ingest.accept(resultTopic(m), Buffer.from(JSON.stringify(m)))),
      // Redeliveries of the first ten, and another id claiming t0's first interval.
      ...msgs.slice(0, 10).map((m) => ingest.accept(resultTopic(m), Buffer.from(JSON.stringify(m)))),
      ingest.accept(resultTopic(twice), Buffer.from(JSON.stringify(twice))),
    ]);
    await ingest.stop();
    expect(outcomes.filter((o) => o === "stored")).toHaveLength(260);
    expect(outcomes.at(-1)).toBe("rejected");
    expect(ingest.counters()).toMatchObject({ stored: 250, duplicates: 10, rejected: 1 });
    const rows = await store.queryResults({
      from: new Date(start),
      to: new Date(at(start, 60)),
      operator: "op-ingest-bytes",
    });
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(msgs.map((m) => m.id)));
    const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 60_000) });
    const mine = rejects.filter((r) => r.reason.includes(twice.id));
    expect(mine).toHaveLength(1);
    expect(mine[0]?.reason).toContain(`already claimed by result ${msgs[0]?.id}`);
  });
});
