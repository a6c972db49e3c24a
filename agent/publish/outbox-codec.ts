import { crc32 } from "node:zlib";

/**
 * The outbox's on-disk framing: `[magic u8][length u32 BE][crc32 u32 BE][body]`. The CRC (node:zlib's,
 * Node ≥ 20.15) covers the length and the body, so a torn tail after a power cut — a header without
 * its body, a body cut short, or garbage the disk left behind — fails the check and is never replayed
 * as a record. The magic byte lets the scanner find the next good frame after a damaged region.
 */
export const FRAME_MAGIC = 0xa5;
export const FRAME_HEADER_BYTES = 9;
/** A result message is a few KiB; anything claiming more than this is damage, not data. */
export const MAX_FRAME_BODY_BYTES = 16 * 1024 * 1024;

const KIND_RECORD = 1;
const KIND_ACKED = 2;
const KIND_DROPPED = 3;
/** Removed because a store receipt from the collector covers it. */
const KIND_RECEIPTED = 4;
/** Not a removal: the broker PUBACKed it, so its seq has left the machine (it stays until receipted). */
const KIND_PUBLISHED = 5;

const REMOVAL_KINDS: Record<number, RemovalKind> = {
  [KIND_ACKED]: "acked",
  [KIND_DROPPED]: "dropped",
  [KIND_RECEIPTED]: "receipted",
};
const REMOVAL_BYTES: Record<RemovalKind, number> = {
  acked: KIND_ACKED,
  dropped: KIND_DROPPED,
  receipted: KIND_RECEIPTED,
};

export interface OutboxRecord {
  /** The agent sequence number: per agent, monotonic, survives restarts. */
  seq: number;
  topic: string;
  payload: Buffer;
  /** Wall clock, epoch ms, when the record was appended. */
  enqueued_at: number;
}

/**
 * Why a record left the outbox: delivered (PUBACK, when receipts are off), covered by a store receipt,
 * or dropped (a bound, or an append that failed).
 */
export type RemovalKind = "acked" | "dropped" | "receipted";

export type FrameBody =
  | { kind: "record"; record: OutboxRecord }
  | { kind: "removal"; removal: RemovalKind; seq: number }
  | { kind: "published"; seq: number };

function frameCrc(header: Buffer, body: Buffer): number {
  return crc32(body, crc32(header.subarray(1, 5)));
}

export function encodeFrame(body: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt8(FRAME_MAGIC, 0);
  header.writeUInt32BE(body.length, 1);
  header.writeUInt32BE(frameCrc(header, body), 5);
  return Buffer.concat([header, body]);
}

export function encodeRecordBody(record: OutboxRecord): Buffer {
  const topic = Buffer.from(record.topic, "utf8");
  const head = Buffer.alloc(1 + 8 + 8 + 2);
  head.writeUInt8(KIND_RECORD, 0);
  head.writeBigUInt64BE(BigInt(record.seq), 1);
  head.writeDoubleBE(record.enqueued_at, 9);
  head.writeUInt16BE(topic.length, 17);
  return Buffer.concat([head, topic, record.payload]);
}

export function encodeRemovalBody(removal: RemovalKind, seq: number): Buffer {
  return seqBody(REMOVAL_BYTES[removal], seq);
}

/** The PUBACK mark of a record awaiting its receipt (kept in the segment's ack log, removes nothing). */
export function encodePublishedBody(seq: number): Buffer {
  return seqBody(KIND_PUBLISHED, seq);
}

function seqBody(kind: number, seq: number): Buffer {
  const body = Buffer.alloc(9);
  body.writeUInt8(kind, 0);
  body.writeBigUInt64BE(BigInt(seq), 1);
  return body;
}

/** Decode a frame body whose CRC already passed; null when its layout is not one we wrote. */
export function decodeBody(body: Buffer): FrameBody | null {
  const kind = body[0];
  if (kind === KIND_RECORD) {
    if (body.length < 19) return null;
    const topicLength = body.readUInt16BE(17);
    if (body.length < 19 + topicLength) return null;
    return {
      kind: "record",
      record: {
        seq: Number(body.readBigUInt64BE(1)),
        enqueued_at: body.readDoubleBE(9),
        topic: body.toString("utf8", 19, 19 + topicLength),
        // Copy: the scan buffer is a whole segment and must not stay alive through one record.
        payload: Buffer.from(body.subarray(19 + topicLength)),
      },
    };
  }
  const removal = kind === undefined ? undefined : REMOVAL_KINDS[kind];
  if (removal && body.length === 9) {
    return { kind: "removal", removal, seq: Number(body.readBigUInt64BE(1)) };
  }
  if (kind === KIND_PUBLISHED && body.length === 9) {
    return { kind: "published", seq: Number(body.readBigUInt64BE(1)) };
  }
  return null;
}

/** The frame starting at `offset`, or null when the bytes there are not a whole, intact frame. */
function frameAt(buf: Buffer, offset: number): { body: Buffer; end: number } | null {
  if (buf.length - offset < FRAME_HEADER_BYTES || buf[offset] !== FRAME_MAGIC) return null;
  const length = buf.readUInt32BE(offset + 1);
  const end = offset + FRAME_HEADER_BYTES + length;
  if (length > MAX_FRAME_BODY_BYTES || end > buf.length) return null;
  const body = buf.subarray(offset + FRAME_HEADER_BYTES, end);
  const header = buf.subarray(offset, offset + FRAME_HEADER_BYTES);
  if (frameCrc(header, body) !== buf.readUInt32BE(offset + 5)) return null;
  return { body, end };
}

export interface ScanResult {
  /** Intact frames in file order, with their byte range. */
  frames: { start: number; end: number; body: Buffer }[];
  /** Damaged byte ranges that were skipped. */
  damaged: { start: number; end: number }[];
  /** Where the last intact frame ends: truncating here removes a torn tail. */
  goodEnd: number;
}

/**
 * Split a file into intact frames. A damaged region ends at the next offset that holds an intact
 * frame (so records written after a damaged one are not lost), or at the end of the file (a torn tail).
 */
export function scanFrames(buf: Buffer): ScanResult {
  const frames: ScanResult["frames"] = [];
  const damaged: ScanResult["damaged"] = [];
  let offset = 0;
  while (offset < buf.length) {
    const frame = frameAt(buf, offset);
    if (frame) {
      frames.push({ start: offset, end: frame.end, body: frame.body });
      offset = frame.end;
      continue;
    }
    let next = buf.indexOf(FRAME_MAGIC, offset + 1);
    while (next !== -1 && !frameAt(buf, next)) next = buf.indexOf(FRAME_MAGIC, next + 1);
    const end = next === -1 ? buf.length : next;
    damaged.push({ start: offset, end });
    offset = end;
  }
  const last = frames.at(-1);
  return { frames, damaged, goodEnd: last ? last.end : 0 };
}
