import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { decodeBody, type FrameBody, scanFrames } from "./outbox-codec.js";

/**
 * File operations the outbox needs to be crash-safe: an fsync'd directory after creating or removing
 * files (otherwise the new name itself can vanish in a power cut), atomic small-file replacement, and
 * reading a frame file while repairing whatever a crash left at its end.
 */

const SEGMENT_DIGITS = 16;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(SEGMENT_DIGITS, "0")}.seg`;
}

export function ackFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(SEGMENT_DIGITS, "0")}.ack`;
}

/** The first seq a segment or ack file is named after, or null for any other file. */
export function parseSegmentName(name: string): { firstSeq: number; ext: "seg" | "ack" } | null {
  const match = /^(\d{16})\.(seg|ack)$/.exec(name);
  if (!match?.[1] || !match[2]) return null;
  return { firstSeq: Number(match[1]), ext: match[2] as "seg" | "ack" };
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replace `path` so that a reader sees either the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: Buffer | string, dir: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncDir(dir);
}

export async function appendDurably(path: string, chunks: Buffer[]): Promise<void> {
  const handle = await open(path, "a");
  try {
    await handle.writev(chunks);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export interface ReadFramesResult {
  bodies: FrameBody[];
  /** Damaged regions found (a torn tail counts as one). */
  damagedRegions: number;
  damagedBytes: number;
  /** Size of the file after repair. */
  size: number;
}

/**
 * Read every intact frame of a file. A damaged tail is truncated away; damage in the middle (not a
 * power-cut pattern for an append-only file, but a disk can do it) is cut out by rewriting the file
 * with only its intact frames, so the next open does not find and count it again.
 */
export async function readFramesRepairing(dir: string, name: string): Promise<ReadFramesResult> {
  const path = join(dir, name);
  const buf = await readFile(path);
  const scan = scanFrames(buf);
  const bodies: FrameBody[] = [];
  for (const frame of scan.frames) {
    const body = decodeBody(frame.body);
    if (body) bodies.push(body);
  }
  const damagedBytes = scan.damaged.reduce((sum, region) => sum + (region.end - region.start), 0);
  let size = buf.length;
  if (scan.damaged.length > 0) {
    const onlyTail = scan.damaged.every((region) => region.start >= scan.goodEnd);
    if (onlyTail) {
      const handle = await open(path, "r+");
      try {
        await handle.truncate(scan.goodEnd);
        await handle.sync();
      } finally {
        await handle.close();
      }
      size = scan.goodEnd;
    } else {
      const kept = Buffer.concat(scan.frames.map((frame) => buf.subarray(frame.start, frame.end)));
      await writeFileAtomic(path, kept, dir);
      size = kept.length;
    }
  }
  return { bodies, damagedRegions: scan.damaged.length, damagedBytes, size };
}

export async function removeFiles(dir: string, names: string[]): Promise<void> {
  for (const name of names) await rm(join(dir, name), { force: true });
  await fsyncDir(dir);
}
