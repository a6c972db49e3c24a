import { describe, expect, it } from "vitest";
import {
  CopyWriter,
  copyText,
  QUEUE_COPY_COLUMNS,
  RESULT_COLUMN_NAMES,
  RESULTS_COPY_COLUMNS,
  RowArena,
  resultRecord,
  rowValues,
} from "../../../../collector/store/result-rows.js";
import { ROLLUP_QUEUE_COLUMNS } from "../../../../collector/store/windows-sql.js";
import { makeResult } from "../../../helpers/result-factory.js";

describe("copyText (PostgreSQL COPY text format)", () => {
  it("writes NULL as \\N, booleans as t/f, numbers as JavaScript's shortest round trip, tab-separated lines", () => {
    expect(copyText([[null, true, false, 0, -1.5, 0.1, 1e21, 12345678901234]])).toBe(
      "\\N\tt\tf\t0\t-1.5\t0.1\t1e+21\t12345678901234\n",
    );
  });

  it("escapes backslash, newline, carriage return and tab in text, and nothing else", () => {
    expect(copyText([['a\\b\nc\rd\te "q" 北京 ,{}']])).toBe('a\\\\b\\nc\\rd\\te "q" 北京 ,{}\n');
    // JSON text keeps its own escapes: each backslash is doubled once, for COPY.
    expect(copyText([['{"m":"x\\"y\\\\z"}']])).toBe('{"m":"x\\\\"y\\\\\\\\z"}\n');
  });

  it("writes text[] as an array literal of quoted elements, escaped again for COPY", () => {
    expect(copyText([[[]]])).toBe("{}\n");
    expect(copyText([[["a", "", "NULL", 'say "hi"', "b\\c", "t\tab"]]])).toBe(
      '{"a","","NULL","say \\\\"hi\\\\"","b\\\\\\\\c","t\\tab"}\n',
    );
  });

  it("refuses a number JSON cannot carry rather than store something else", () => {
    expect(() => copyText([[Number.NaN]])).toThrow(/non-finite/);
    expect(() => copyText([[Number.POSITIVE_INFINITY]])).toThrow(/non-finite/);
  });
});

const utf8 = (b: Uint8Array) => Buffer.from(b).toString("utf8");

describe("resultRecord from the bytes received", () => {
  it("copies the payload's own bytes when COPY needs no escape (a byte order mark left out), else encodes the text", () => {
    const m = makeResult({ seq: 3, intervalStart: "2026-07-01T00:00:00.000Z" });
    m.error = { code: "E", message: "北京 → 广州" };
    const text = JSON.stringify(m);
    const fromText = utf8(resultRecord(m, text, text, null, false).resultsRow);
    const plain = Buffer.from(text, "utf8");
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), plain]);
    expect(utf8(resultRecord(m, text, plain, null, false).resultsRow)).toBe(fromText);
    expect(utf8(resultRecord(m, text, withBom, null, false).resultsRow)).toBe(fromText);
    // A backslash in the JSON text (an escaped quote): the bytes need COPY's escape, so the text path.
    m.error = { code: "E", message: 'say "hi"' };
    const escaped = JSON.stringify(m);
    const row = utf8(resultRecord(m, escaped, Buffer.from(escaped, "utf8"), null, false).resultsRow);
    expect(row).toBe(utf8(resultRecord(m, escaped, escaped, null, false).resultsRow));
    expect(row.split("\t")[RESULTS_COPY_COLUMNS.indexOf("payload_text")]).toBe(
      escaped.replaceAll("\\", "\\\\"),
    );
  });
});

describe("CopyWriter on a RowArena", () => {
  it("keeps every row's bytes intact when later rows move on to fresh arenas", () => {
    const arena = new RowArena(64);
    const rows: Array<[Buffer, string]> = [];
    for (let i = 0; i < 40; i++) {
      const w = new CopyWriter(arena);
      const text = `${"x".repeat(i * 7)}é${i}`;
      w.value(i);
      w.value(text);
      w.endRow();
      rows.push([w.bytes(), `${i}\t${text}\n`]);
    }
    for (const [bytes, expected] of rows) expect(bytes.toString("utf8")).toBe(expected);
  });
});

describe("rowValues", () => {
  it("reads every column of a message in RESULT_COLUMNS order, absent keys as null", () => {
    const m = makeResult({ seq: 9, intervalStart: "2026-07-01T00:00:00.000Z" });
    m.quality.flags = ["aborted"];
    const row = rowValues(m, "{…}", null);
    const col = (name: string) => row[RESULT_COLUMN_NAMES.indexOf(name)];
    expect(row).toHaveLength(RESULT_COLUMN_NAMES.length);
    expect(col("id")).toBe(m.id);
    expect(col("seq")).toBe(9);
    expect(col("agent_site")).toBe(m.agent.site);
    expect(col("interval_start")).toBe("2026-07-01T00:00:00.000Z");
    expect(col("sent")).toBe(m.packets.sent);
    expect(col("rtt_mean_ms")).toBe(m.rtt_ms?.mean);
    expect(col("payload_text")).toBe("{…}");
    expect(col("flags")).toEqual(["aborted"]);
    expect(col("error_code")).toBeNull();
    expect(col("ow_forward_mean_ms")).toBeNull();
    expect(col("chain_hash")).toBeNull();
    expect(col("chain_prev")).toBeNull(); // no prev key at all
    expect(rowValues({ ...m, prev: null }, "", "h")[RESULT_COLUMN_NAMES.indexOf("chain_prev")]).toBe("");
    expect([...QUEUE_COPY_COLUMNS].sort()).toEqual([...ROLLUP_QUEUE_COLUMNS].sort());
  });
});

describe("resultRecord", () => {
  it("writes each message's results row and its rollup queue row (QUEUE_COPY_COLUMNS) in one pass", () => {
    const a = makeResult({ seq: 1, site: "s1", intervalStart: "2026-07-01T00:00:00.000Z" });
    const b = makeResult({ seq: 2, site: "s2", intervalStart: "2026-07-01T00:01:00.000Z" });
    b.error = { code: "X", message: "tab\there" };
    const texts = [JSON.stringify(a), '{"t":"é\\\\"}'];
    const ra = resultRecord(a, texts[0] ?? "", texts[0] ?? "", null, false);
    const rb = resultRecord(b, texts[1] ?? "", texts[1] ?? "", "hash-b", true);
    const results = Buffer.concat([ra.resultsRow, rb.resultsRow]);
    const queue = Buffer.concat([ra.queueRow, rb.queueRow]);
    expect([rb.id, rb.seq, rb.agent, rb.test, rb.interval, rb.chainHash, rb.checked, rb.linked]).toEqual([
      b.id,
      2,
      b.agent,
      { id: b.test.id },
      b.interval,
      "hash-b",
      true,
      false,
    ]);
    const rows = [rowValues(a, texts[0] ?? "", null), rowValues(b, texts[1] ?? "", "hash-b")];
    const inCopyOrder = rows.map((r) =>
      RESULTS_COPY_COLUMNS.map((n) => r[RESULT_COLUMN_NAMES.indexOf(n)] ?? null),
    );
    expect(results.toString("utf8")).toBe(copyText(inCopyOrder));
    expect(RESULTS_COPY_COLUMNS.slice(0, QUEUE_COPY_COLUMNS.length)).toEqual(QUEUE_COPY_COLUMNS);
    expect([...RESULTS_COPY_COLUMNS].sort()).toEqual([...RESULT_COLUMN_NAMES].sort());
    const q = rows.map((r) => QUEUE_COPY_COLUMNS.map((n) => r[RESULT_COLUMN_NAMES.indexOf(n)] ?? null));
    expect(queue.toString("utf8")).toBe(copyText(q));
    // The JSON text's escaped backslash (two characters \\) is doubled for COPY (four).
    expect(
      results.toString("utf8").split("\n")[1]?.split("\t")[RESULTS_COPY_COLUMNS.indexOf("payload_text")],
    ).toBe('{"t":"é\\\\\\\\"}');
  });
});
