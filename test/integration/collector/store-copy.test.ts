import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seal, sealedPayload } from "../../../agent/evidence/seal.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import type { SqlDatabase } from "../../../collector/store/sql.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { validateResult } from "../../../collector/validate.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * Ingest's two ways into `results` (sql-store.ts insertResults): COPY for a batch of new results, and
 * the INSERT … ON CONFLICT statement a batch falls back to when it holds a stored id or a claimed
 * interval. Both must store the same row, rollup queue row and chain counts for the same message, and
 * the payload as the text received (migration 009).
 */

const T0 = Date.parse("2026-07-01T00:00:00.000Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

function isSet<T>(x: T | undefined): x is T {
  return x !== undefined;
}

function dbOf(store: ResultStore): SqlDatabase {
  return (store as unknown as { db: SqlDatabase }).db;
}

/** Validated from bytes, as the MQTT subscriber hands a payload to ingest. */
function received(m: ResultMessage, text = JSON.stringify(m)): ResultMessage {
  const v = validateResult(resultTopic(m), Buffer.from(text, "utf8"));
  if (!v.ok) throw new Error(v.reason);
  return v.message;
}

/**
 * Messages that exercise every column's conversion: an error with COPY's special characters, flags
 * with array-literal specials, one-way figures, a missing peer, prev null and a string, signatures.
 */
function variety(operator: string): ResultMessage[] {
  const { privateKey } = generateKeyPairSync("ed25519");
  const out: ResultMessage[] = [];
  const a = makeResult({ operator, site: "s1", seq: 1, intervalStart: at(0) });
  a.status = "error";
  a.error = {
    code: "NET",
    message: 'tab\there, newline\nhere, CR\rhere, back\\slash, "quote" 北京→广州 \u00e9',
  };
  a.quality.flags = ["host-timing", 'odd "flag", {with} \\ specials\t', "", "NULL"];
  out.push(a);
  const b = makeResult({ operator, site: "s1", seq: 2, intervalStart: at(1) });
  delete (b.test as { peer?: unknown }).peer;
  delete b.test.distance_km;
  out.push(b);
  const c = makeResult({ operator, site: "s2", seq: 1, intervalStart: at(0) });
  c.one_way_ms = {
    forward: { min: 10.25, mean: 12.5, max: 16, max_minus_min: 5.75 },
    reverse: { min: 10, mean: 12.75, max: 16.5, max_minus_min: 6.5 },
    clock_synced: true,
    error_bound_ms: 0.5,
  };
  out.push(c);
  // Sealed: prev null (a chain's first), then prev = the first's digest; both signed.
  let prev: string | null = null;
  for (const [i, site] of [
    [0, "s3"],
    [1, "s3"],
  ] as const) {
    const m = makeResult({ operator, site, seq: i + 1, intervalStart: at(i) });
    const sealed = seal(m as unknown as Record<string, unknown>, prev, privateKey);
    const { bytes, digest } = sealedPayload(sealed);
    prev = digest;
    out.push(received(sealed as unknown as ResultMessage, bytes.toString("utf8")));
  }
  return out.map((m) => (m.sig ? m : received(m)));
}

/** The same messages under another operator with new ids (so both sets can be stored side by side). */
function twin(msgs: readonly ResultMessage[], operator: string): ResultMessage[] {
  return msgs.map((m) => {
    if (m.sig) {
      // A sealed message cannot change operator without breaking its signature: store it unchanged,
      // compared against itself below.
      return m;
    }
    const copy = structuredClone(m) as ResultMessage;
    copy.agent.operator = operator;
    copy.id = makeResult().id;
    return received(copy);
  });
}

const SKIP = new Set(["id", "operator", "received_at", "payload_text", "payload_json", "payload"]);

async function rowsOf(db: SqlDatabase, table: string, operator: string): Promise<Record<string, unknown>[]> {
  const rows = await db.query<Record<string, unknown>>(
    `SELECT * FROM ${table} WHERE operator = $1 ORDER BY agent_site, interval_start`,
    [operator],
  );
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !SKIP.has(k))));
}

describe.each(backends)("ingest's COPY and INSERT paths on $name", (backend) => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
    await store.migrate();
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  it("store the same columns, queue rows and payload text for the same messages", async () => {
    const viaCopy = variety("op-copy").filter((m) => !m.sig);
    expect(await store.insertResults(viaCopy)).toEqual({
      inserted: viaCopy.length,
      duplicates: 0,
      refused: [],
    });
    // A repeat of the first message makes COPY fail on the id key: the batch goes by INSERT.
    const viaInsert = twin(viaCopy, "op-insert");
    const first = viaInsert[0];
    if (!first) throw new Error("no message");
    expect(await store.insertResults([...viaInsert, first])).toEqual({
      inserted: viaInsert.length,
      duplicates: 1,
      refused: [],
    });
    const db = dbOf(store);
    const copied = await rowsOf(db, "results", "op-copy");
    expect(copied).toHaveLength(3);
    expect(await rowsOf(db, "results", "op-insert")).toEqual(copied);
    expect(await rowsOf(db, "rollup_queue", "op-insert")).toEqual(
      await rowsOf(db, "rollup_queue", "op-copy"),
    );
    // Hand-checked values of the columns COPY's text format could get wrong.
    const error = copied[0] ?? {};
    expect(error.error_message).toBe('tab\there, newline\nhere, CR\rhere, back\\slash, "quote" 北京→广州 é');
    expect(error.flags).toEqual(["host-timing", 'odd "flag", {with} \\ specials\t', "", "NULL"]);
    expect(copied[1]?.peer_site).toBeNull();
    expect(copied[1]?.distance_km).toBeNull();
    expect(copied[2]?.ow_forward_mean_ms).toBe(12.5);
    expect(copied[2]?.ow_clock_synced).toBe(true);
    // The payload is the text received, byte for byte, on both paths.
    for (const op of ["op-copy", "op-insert"]) {
      const texts = await db.query<{ t: string; pj: unknown; j: unknown }>(
        "SELECT payload_text AS t, payload_json AS pj, payload AS j FROM results WHERE operator = $1 ORDER BY agent_site, interval_start",
        [op],
      );
      const sent = (op === "op-copy" ? viaCopy : viaInsert).map((m) => JSON.stringify(m));
      expect(texts.map((r) => r.t)).toEqual(sent);
      // Migration 011: only the text column is written.
      expect(texts.every((r) => r.j === null && r.pj === null)).toBe(true);
    }
  });

  it("records signed results' chain links and checked counts the same way on both paths", async () => {
    const sealed = variety("op-chain").filter((m) => m.sig);
    const [s1, s2] = sealed;
    if (!s1 || !s2) throw new Error("no sealed messages");
    // s1 by COPY; s2 with a repeat of s1 by INSERT.
    expect(await store.insertResults([s1])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    expect(await store.insertResults([s2, s1])).toEqual({ inserted: 1, duplicates: 1, refused: [] });
    const db = dbOf(store);
    const rows = await db.query<{ seq: number | string; chain_hash: string; chain_prev: string }>(
      "SELECT seq, chain_hash, chain_prev FROM results WHERE operator = 'op-chain' ORDER BY seq",
    );
    expect(rows.map((r) => [Number(r.seq), r.chain_prev])).toEqual([
      [1, ""],
      [2, rows[0]?.chain_hash],
    ]);
    const chains = await db.query<{ results: number; signed: number; first_seq: number; last_seq: number }>(
      "SELECT results, signed, first_seq, last_seq FROM evidence_chains WHERE operator = 'op-chain'",
    );
    expect(chains.map((c) => [c.results, c.signed, c.first_seq, c.last_seq].map(Number))).toEqual([
      [2, 2, 1, 2],
    ]);
    const breaks = await db.query("SELECT * FROM evidence_breaks WHERE operator = 'op-chain'");
    expect(breaks).toEqual([]);
  });

  it("refuses a second claim in a COPY batch by falling back, and goes back to COPY after a clean batch", async () => {
    const m1 = received(makeResult({ operator: "op-claim", site: "s1", seq: 1, intervalStart: at(10) }));
    const rival = received(makeResult({ operator: "op-claim", site: "s1", seq: 2, intervalStart: at(10) }));
    const report = await store.insertResults([m1, rival]);
    expect(report.inserted).toBe(1);
    expect(report.duplicates).toBe(0);
    expect(report.refused).toHaveLength(1);
    const m3 = received(makeResult({ operator: "op-claim", site: "s1", seq: 3, intervalStart: at(11) }));
    const m4 = received(makeResult({ operator: "op-claim", site: "s1", seq: 4, intervalStart: at(12) }));
    expect(await store.insertResults([m3])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    expect((store as unknown as { copyFirst: boolean }).copyFirst).toBe(true);
    expect(await store.insertResults([m4])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    const n = await dbOf(store).query<{ n: number }>(
      "SELECT count(*)::int AS n FROM rollup_queue WHERE operator = 'op-claim'",
    );
    expect(Number(n[0]?.n)).toBe(3);
  });

  it("takes integers written as 0.0, 1.0 or 6e0 (valid JSON integers) on the INSERT path too", async () => {
    // JSON has one number type: 0.0 is the integer 0 to the schema (zod and Ajv), and COPY receives
    // JavaScript's "0". The INSERT path read the jsonb number's text ("0.0") and cast it to integer,
    // which PostgreSQL refuses: once such a result was stored by COPY, its QoS 1 redelivery put its
    // batch on the INSERT path, which failed on every retry and stalled ingest behind it.
    const m = makeResult({ operator: "op-float-int", site: "s1", seq: 1, intervalStart: at(30) });
    const text = JSON.stringify(m)
      .replace('"late":0', '"late":0.0')
      .replace('"packet_size_bytes":128', '"packet_size_bytes":128.000')
      .replace('"seq":1,', '"seq":1.0,')
      .replace('"lost":6', '"lost":6e0');
    expect(text).toContain('"late":0.0');
    expect(text).toContain('"lost":6e0');
    const stored = received(m, text);
    const next = received(
      makeResult({ operator: "op-float-int", site: "s1", seq: 2, intervalStart: at(31) }),
    );
    expect(await store.insertResults([stored])).toEqual({ inserted: 1, duplicates: 0, refused: [] });
    // The redelivery in a batch with a new result: COPY fails on the id key, the INSERT sorts it out.
    expect(await store.insertResults([stored, next])).toEqual({ inserted: 1, duplicates: 1, refused: [] });
    const rows = await dbOf(store).query<Record<string, unknown>>(
      "SELECT seq, packet_size_bytes, lost, late FROM results WHERE operator = 'op-float-int' ORDER BY seq",
    );
    expect(rows.map((r) => [r.seq, r.packet_size_bytes, r.lost, r.late].map(Number))).toEqual([
      [1, 128, 6, 0],
      [2, 128, 6, 0],
    ]);
    // And a batch of such results that goes by INSERT from the start stores the same values.
    const twinText = text.replace(m.id, makeResult().id).replaceAll('"op-float-int"', '"op-float-int2"');
    const viaInsert = received({ ...m, agent: { ...m.agent, operator: "op-float-int2" } }, twinText);
    expect(await store.insertResults([viaInsert, viaInsert])).toEqual({
      inserted: 1,
      duplicates: 1,
      refused: [],
    });
    const twinRows = await dbOf(store).query<Record<string, unknown>>(
      "SELECT seq, packet_size_bytes, lost, late FROM results WHERE operator = 'op-float-int2'",
    );
    expect(twinRows.map((r) => [r.seq, r.packet_size_bytes, r.lost, r.late].map(Number))).toEqual([
      [1, 128, 6, 0],
    ]);
  });

  it("refuses only the results PostgreSQL cannot hold and stores the rest of their batch, on either path", async () => {
    const good = [0, 1, 2, 3, 4].map((i) =>
      received(makeResult({ operator: "op-poison", site: "s1", seq: i + 1, intervalStart: at(40 + i) })),
    );
    // Valid by the wire schema (counts ≤ 2^53 − 1, any ISO year) but not storable: integer overflow and
    // a year PostgreSQL does not have.
    const overflow = makeResult({ operator: "op-poison", site: "s2", seq: 1, intervalStart: at(40) });
    overflow.packets.late = 2 ** 31;
    const yearZero = makeResult({ operator: "op-poison", site: "s3", seq: 1 });
    yearZero.interval = { start: "0000-01-01T00:00:00.000Z", end: "0000-01-01T00:01:00.000Z" };
    const bad = [received(overflow), received(yearZero)];
    const report = await store.insertResults(
      [good[0], bad[0], good[1], good[2], bad[1], good[3]].filter(isSet),
    );
    expect(report.inserted).toBe(4);
    expect(report.duplicates).toBe(0);
    expect(report.refused.map((r) => r.id).sort()).toEqual(bad.map((m) => m.id).sort());
    expect(report.refused.find((r) => r.id === overflow.id)?.reason).toMatch(
      /PostgreSQL cannot store result .* out of range for type integer \(SQLSTATE 22003\)/,
    );
    // On the INSERT path too (a redelivery in the batch sends it there).
    const again = [good[0], good[4], bad[0]].filter(isSet);
    const second = await store.insertResults(again);
    expect([second.inserted, second.duplicates, second.refused.map((r) => r.id)]).toEqual([
      1,
      1,
      [overflow.id],
    ]);
    const n = await dbOf(store).query<{ n: number }>(
      "SELECT count(*)::int AS n FROM results WHERE operator = 'op-poison'",
    );
    expect(Number(n[0]?.n)).toBe(5);
  });

  it("reads back results stored before migration 009 (jsonb payload) and before 011 (json payload)", async () => {
    const jsonb = received(makeResult({ operator: "op-old", site: "s1", seq: 1, intervalStart: at(20) }));
    const json = received(makeResult({ operator: "op-old", site: "s1", seq: 2, intervalStart: at(21) }));
    await store.insertResults([jsonb, json]);
    const db = dbOf(store);
    await db.query("UPDATE results SET payload = payload_text::jsonb, payload_text = NULL WHERE id = $1", [
      jsonb.id,
    ]);
    await db.query(
      "UPDATE results SET payload_json = payload_text::json, payload_text = NULL WHERE id = $1",
      [json.id],
    );
    const rows = await store.queryResults({
      from: new Date(T0),
      to: new Date(T0 + 86_400_000),
      operator: "op-old",
    });
    expect(rows.map((r) => (r.payload as ResultMessage).id).sort()).toEqual([jsonb.id, json.id].sort());
    expect(rows.map((r) => (r.payload as ResultMessage).seq).sort()).toEqual([1, 2]);
  });
});
