import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  decodeBody,
  encodeFrame,
  encodeRecordBody,
  encodeRemovalBody,
  FRAME_HEADER_BYTES,
  scanFrames,
} from "../../../agent/publish/outbox-codec.js";

const record = (seq: number) => ({
  seq,
  topic: "a/b",
  payload: Buffer.from("hello"),
  enqueued_at: 1_700_000_000_123.5,
});

describe("outbox codec", () => {
  it("uses the IEEE CRC-32 (check value of '123456789' is 0xCBF43926)", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
  });

  it("frames a record as header + kind/seq/time/topic/payload", () => {
    const frame = encodeFrame(encodeRecordBody(record(7)));
    // 9 header + 1 kind + 8 seq + 8 time + 2 topic length + 3 topic + 5 payload = 36
    expect(frame.length).toBe(36);
    expect(frame[0]).toBe(0xa5);
    expect(frame.readUInt32BE(1)).toBe(36 - FRAME_HEADER_BYTES);
    const scan = scanFrames(frame);
    expect(scan.damaged).toEqual([]);
    expect(scan.frames.map((f) => decodeBody(f.body))).toEqual([{ kind: "record", record: record(7) }]);
  });

  it("round-trips removal markers", () => {
    const frame = encodeFrame(encodeRemovalBody("dropped", 2 ** 40));
    // 9 header + 1 kind + 8 seq
    expect(frame.length).toBe(18);
    const body = scanFrames(frame).frames[0]?.body;
    expect(body && decodeBody(body)).toEqual({ kind: "removal", removal: "dropped", seq: 2 ** 40 });
  });

  it("reports a torn tail after the last intact frame", () => {
    const one = encodeFrame(encodeRecordBody(record(1)));
    const two = encodeFrame(encodeRecordBody(record(2)));
    const torn = Buffer.concat([one, two.subarray(0, 20)]);
    const scan = scanFrames(torn);
    expect(scan.frames).toHaveLength(1);
    // the tail starts where frame one ends (36) and runs to the end (36 + 20)
    expect(scan.damaged).toEqual([{ start: 36, end: 56 }]);
    expect(scan.goodEnd).toBe(36);
  });

  it("skips damage in the middle and keeps the frames after it", () => {
    const frames = [1, 2, 3].map((seq) => encodeFrame(encodeRecordBody(record(seq))));
    const buf = Buffer.concat(frames);
    buf[36 + 30] = (buf[36 + 30] ?? 0) ^ 0xff; // flip a payload byte of frame two: its CRC fails
    const scan = scanFrames(buf);
    expect(scan.frames.map((f) => decodeBody(f.body))).toEqual([
      { kind: "record", record: record(1) },
      { kind: "record", record: record(3) },
    ]);
    expect(scan.damaged).toEqual([{ start: 36, end: 72 }]);
    expect(scan.goodEnd).toBe(108);
  });
});
