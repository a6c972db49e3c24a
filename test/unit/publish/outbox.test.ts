import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../../agent/clock.js";
import { Outbox, type OutboxDropEvent, type OutboxOptions } from "../../../agent/publish/outbox.js";

// Every record in these tests has topic "t" (1 byte) and a 10-byte payload, so one frame is
// 9 (header) + 1 (kind) + 8 (seq) + 8 (enqueued_at) + 2 (topic length) + 1 + 10 = 39 bytes.
const FRAME = 39;
const payload = (i: number) => Buffer.from(`payload-${String(i).padStart(2, "0")}`);

let dir: string;
const opened: Outbox[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qosprobe-outbox-"));
});

afterEach(async () => {
  for (const outbox of opened.splice(0)) await outbox.close();
  await rm(dir, { recursive: true, force: true });
});

async function openOutbox(extra: Partial<OutboxOptions> = {}) {
  const outbox = new Outbox({
    dir,
    max_bytes: 1_000_000,
    max_age_ms: 3_600_000,
    clock: new FakeClock(),
    ...extra,
  });
  opened.push(outbox);
  const report = await outbox.open();
  return { outbox, report };
}

async function reopen(outbox: Outbox, extra: Partial<OutboxOptions> = {}) {
  await outbox.close();
  return openOutbox(extra);
}

const seqs = (outbox: Outbox) => outbox.peek(1_000_000).map((r) => r.seq);
const segmentFile = async () => {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".seg"));
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
};

describe("Outbox", () => {
  it("appends, peeks, acks and replays what is left after a reopen", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const { outbox } = await openOutbox({ clock });
    expect(await outbox.append("t", payload(1))).toBe(1);
    expect(await outbox.append("t", payload(2))).toBe(2);
    expect(await outbox.append("t", payload(3))).toBe(3);
    expect(outbox.peek(2).map((r) => r.seq)).toEqual([1, 2]);
    await outbox.ack(2);
    expect(seqs(outbox)).toEqual([1, 3]);
    expect(outbox.depth()).toBe(2);
    expect(outbox.bytes()).toBe(2 * FRAME);

    const { outbox: again, report } = await reopen(outbox);
    expect(report).toEqual({ replayed: 2, torn: 0, torn_bytes: 0, next_seq: 4, dropped: 0 });
    expect(again.peek(5)).toEqual([
      { seq: 1, topic: "t", payload: payload(1), enqueued_at: Date.UTC(2026, 0, 1) },
      { seq: 3, topic: "t", payload: payload(3), enqueued_at: Date.UTC(2026, 0, 1) },
    ]);
  });

  it("hands the assigned seq to a payload builder", async () => {
    const { outbox } = await openOutbox();
    await outbox.append("t", payload(0));
    const seq = await outbox.append("t", (s) => Buffer.from(JSON.stringify({ seq: s })));
    expect(seq).toBe(2);
    expect(outbox.peek(2)[1]?.payload.toString()).toBe('{"seq":2}');
  });

  it("cuts a record torn mid-write off the tail and counts it", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 3; i++) await outbox.append("t", payload(i));
    await outbox.close();
    const file = await segmentFile();
    // 3 frames = 117 bytes; cutting 5 leaves frame three 34 bytes long, which fails its check.
    await truncate(file, 3 * FRAME - 5);

    const { outbox: again, report } = await openOutbox();
    expect(report.torn).toBe(1);
    expect(report.torn_bytes).toBe(FRAME - 5);
    expect(report.replayed).toBe(2);
    expect(seqs(again)).toEqual([1, 2]);
    expect((await stat(file)).size).toBe(2 * FRAME);
    // state.json remembered seq 3 was handed out, so it is not reused.
    expect(await again.append("t", payload(4))).toBe(4);
  });

  it("never reuses the seq of an acked record torn off the tail after a crash (state.json stale)", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 3; i++) await outbox.append("t", payload(i));
    // state.json still says next_seq 1 (written at open): the crash comes before any close.
    await outbox.ack(3);
    opened.splice(opened.indexOf(outbox), 1); // SIGKILL: no close, state.json is stale
    await writeFile(join(dir, "state.json"), '{"version":1,"next_seq":1,"dropped":0}\n');
    await truncate(await segmentFile(), 3 * FRAME - 5);

    const { outbox: again, report } = await openOutbox();
    expect(report).toMatchObject({ replayed: 2, torn: 1 });
    // Seq 3 left the machine (its PUBACK is in the ack log): the next result must not be seq 3 again.
    expect(report.next_seq).toBe(4);
    expect(await again.append("t", payload(4))).toBe(4);
  });

  it("cuts garbage appended after the last record, once", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 2; i++) await outbox.append("t", payload(i));
    await outbox.close();
    await appendFile(await segmentFile(), Buffer.from([0xa5, 0, 0, 0, 3, 1, 2]));

    const { outbox: again, report } = await openOutbox();
    expect(report).toMatchObject({ replayed: 2, torn: 1, torn_bytes: 7 });
    expect(await again.append("t", payload(3))).toBe(3);
    const { outbox: third, report: clean } = await reopen(again);
    expect(clean).toMatchObject({ replayed: 3, torn: 0, torn_bytes: 0 });
    expect(seqs(third)).toEqual([1, 2, 3]);
  });

  it("keeps the records after a damaged one in the middle", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 3; i++) await outbox.append("t", payload(i));
    await outbox.close();
    const file = await segmentFile();
    const bytes = await readFile(file);
    bytes[FRAME + 30] = (bytes[FRAME + 30] ?? 0) ^ 0xff; // a payload byte of record two
    await writeFile(file, bytes);

    const { outbox: again, report } = await openOutbox();
    expect(report).toMatchObject({ replayed: 2, torn: 1, torn_bytes: FRAME });
    expect(seqs(again)).toEqual([1, 3]);
    const { report: clean } = await reopen(again);
    expect(clean).toMatchObject({ replayed: 2, torn: 0 });
  });

  it("replays an acked record whose ack was torn (a duplicate, never a loss)", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 3; i++) await outbox.append("t", payload(i));
    await outbox.ack(1);
    await outbox.ack(2);
    await outbox.close();
    const ackFile = join(dir, "0000000000000001.ack");
    // two removal frames of 18 bytes; cut 3 bytes off the second
    expect((await stat(ackFile)).size).toBe(36);
    await truncate(ackFile, 33);

    const { outbox: again, report } = await openOutbox();
    expect(report).toMatchObject({ torn: 1, torn_bytes: 15 });
    expect(seqs(again)).toEqual([2, 3]);
  });

  it("keeps the sequence across restarts, even without state.json", async () => {
    const { outbox } = await openOutbox({ segment_bytes: 2 * FRAME });
    for (let i = 1; i <= 5; i++) await outbox.append("t", payload(i));
    for (let i = 1; i <= 5; i++) await outbox.ack(i);
    expect(outbox.depth()).toBe(0);
    // 2 frames per segment: segments start at 1, 3, 5; the two full sealed ones are deleted.
    expect((await readdir(dir)).sort()).toEqual([
      "0000000000000005.ack",
      "0000000000000005.seg",
      "state.json",
    ]);

    const { outbox: again, report } = await reopen(outbox, { segment_bytes: 2 * FRAME });
    expect(report).toEqual({ replayed: 0, torn: 0, torn_bytes: 0, next_seq: 6, dropped: 0 });
    await again.close();
    await rm(join(dir, "state.json"));
    const { outbox: third } = await openOutbox();
    expect(third.nextSeq()).toBe(6);
    expect(await third.append("t", payload(6))).toBe(6);
  });

  it("drops the oldest records beyond max_bytes, counts them and remembers the count", async () => {
    const events: OutboxDropEvent[] = [];
    // 100 bytes hold two 39-byte frames (78), not three (117).
    const { outbox } = await openOutbox({ max_bytes: 100 });
    outbox.on("dropped", (event) => events.push(event));
    for (let i = 1; i <= 5; i++) await outbox.append("t", payload(i));
    expect(seqs(outbox)).toEqual([4, 5]);
    expect(outbox.dropped()).toBe(3);
    expect(events.map((e) => [e.reason, e.count, e.first_seq, e.total])).toEqual([
      ["max_bytes", 1, 1, 1],
      ["max_bytes", 1, 2, 2],
      ["max_bytes", 1, 3, 3],
    ]);
    const { outbox: again, report } = await reopen(outbox, { max_bytes: 100 });
    expect(report).toMatchObject({ replayed: 2, dropped: 3 });
    expect(seqs(again)).toEqual([4, 5]);
  });

  it("drops records older than max_age_ms, oldest first", async () => {
    const clock = new FakeClock();
    const { outbox } = await openOutbox({ clock, max_age_ms: 60_000 });
    const events: OutboxDropEvent[] = [];
    outbox.on("dropped", (event) => events.push(event));
    await outbox.append("t", payload(1));
    await outbox.append("t", payload(2));
    await clock.advance(30_000);
    await outbox.append("t", payload(3));
    await clock.advance(40_000);
    // seqs 1 and 2 are 70 s old (> 60 s), seq 3 is 40 s old
    expect(seqs(outbox)).toEqual([3]);
    expect(outbox.dropped()).toBe(2);
    expect(events).toEqual([{ reason: "max_age", count: 2, first_seq: 1, last_seq: 2, total: 2 }]);
  });

  it("accepts acks out of order and persists them", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 5; i++) await outbox.append("t", payload(i));
    await Promise.all([outbox.ack(4), outbox.ack(2), outbox.ack(5), outbox.ack(4)]);
    expect(seqs(outbox)).toEqual([1, 3]);
    const { outbox: again } = await reopen(outbox);
    expect(seqs(again)).toEqual([1, 3]);
    await again.ack(3);
    await again.ack(1);
    const { outbox: third, report } = await reopen(again);
    expect(report).toMatchObject({ replayed: 0, next_seq: 6 });
    expect(third.depth()).toBe(0);
  });

  it("round-trips 10,000 records through appends, a reopen and acks", async () => {
    const { outbox } = await openOutbox({ segment_bytes: 64 * 1024 });
    const n = 10_000;
    const assigned = await Promise.all(
      Array.from({ length: n }, (_, i) => outbox.append(`r/${i % 7}`, Buffer.from(JSON.stringify({ i })))),
    );
    expect(assigned).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // Ack the odd seqs, then reopen: exactly the 5,000 even ones come back, in order, intact.
    await Promise.all(assigned.filter((seq) => seq % 2 === 1).map((seq) => outbox.ack(seq)));
    const { outbox: again, report } = await reopen(outbox, { segment_bytes: 64 * 1024 });
    expect(report.replayed).toBe(5_000);
    const records = again.peek(n);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 5_000 }, (_, i) => 2 * (i + 1)));
    for (const record of records) {
      const i = record.seq - 1;
      expect(record.topic).toBe(`r/${i % 7}`);
      expect(JSON.parse(record.payload.toString())).toEqual({ i });
    }
    await Promise.all(records.map((r) => again.ack(r.seq)));
    expect(again.depth()).toBe(0);
    // Only the newest segment (and its ack log) outlives a full drain.
    const files = (await readdir(dir)).filter((name) => name !== "state.json");
    expect(files).toHaveLength(2);
    const { report: last } = await reopen(again, { segment_bytes: 64 * 1024 });
    expect(last).toMatchObject({ replayed: 0, next_seq: n + 1, torn: 0 });
  });
});

describe("Outbox receipts", () => {
  it("keeps a PUBACKed record until a receipt covers it, and requeues it when none comes", async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const { outbox } = await openOutbox({ clock });
    for (let i = 1; i <= 5; i++) await outbox.append("t", payload(i));
    for (let i = 1; i <= 4; i++) await outbox.published(i);
    // PUBACKed: not handed out again, but still held.
    expect(seqs(outbox)).toEqual([5]);
    expect(outbox.depth()).toBe(5);
    expect(outbox.awaitingReceipt()).toBe(4);

    // The store holds 1..2 and 4: those go, whatever their state; 3 stays awaiting.
    expect(await outbox.receipt(2, [[4, 4]])).toBe(3);
    expect(outbox.depth()).toBe(2);
    expect(outbox.awaitingReceipt()).toBe(1);
    expect(outbox.requeue(60_000)).toBe(0);

    await clock.advance(60_000);
    expect(outbox.requeue(60_000)).toBe(1);
    expect(seqs(outbox)).toEqual([3, 5]);
    // A receipt repeated (or from a second collector) removes nothing more.
    expect(await outbox.receipt(2, [[4, 4]])).toBe(0);
  });

  it("republishes everything unreceipted after a restart, PUBACKed or not", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 3; i++) await outbox.append("t", payload(i));
    for (let i = 1; i <= 3; i++) await outbox.published(i);
    await outbox.receipt(1, []);
    const { outbox: again, report } = await reopen(outbox);
    expect(report).toMatchObject({ replayed: 2, next_seq: 4 });
    expect(seqs(again)).toEqual([2, 3]);
    expect(again.awaitingReceipt()).toBe(0);
  });

  it("a receipt range above the contiguous part removes only what it covers", async () => {
    const { outbox } = await openOutbox();
    for (let i = 1; i <= 10; i++) await outbox.append("t", payload(i));
    expect(
      await outbox.receipt(0, [
        [3, 4],
        [4, 6],
        [9, 1_000_000],
      ]),
    ).toBe(6);
    expect(seqs(outbox)).toEqual([1, 2, 7, 8]);
  });
});

describe("Outbox append failures", () => {
  it("counts an append the disk refuses (ENOSPC) as a drop and never reuses its seq", async () => {
    const events: OutboxDropEvent[] = [];
    // One record per segment, so the second append opens segment 2 — which is /dev/full.
    const { outbox } = await openOutbox({ segment_bytes: FRAME });
    outbox.on("dropped", (e) => events.push(e));
    expect(await outbox.append("t", payload(1))).toBe(1);
    const full = join(dir, "0000000000000002.seg");
    await symlink("/dev/full", full);
    await expect(outbox.append("t", payload(2))).rejects.toMatchObject({ code: "OUTBOX_IO" });
    expect(outbox.dropped()).toBe(1);
    expect(outbox.appendFailed()).toBe(1);
    expect(events).toEqual([{ reason: "append_failed", count: 1, first_seq: 2, last_seq: 2, total: 1 }]);
    await rm(full);
    expect(await outbox.append("t", payload(3))).toBe(3);

    const { report } = await reopen(outbox, { segment_bytes: FRAME });
    expect(report).toMatchObject({ replayed: 2, next_seq: 4, dropped: 1 });
  });
});
