import { type FileHandle, mkdir, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.js";
import type { OutboxRecord } from "./outbox-codec.js";
import {
  ackFileName,
  appendDurably,
  fsyncDir,
  parseSegmentName,
  readFramesRepairing,
  removeFiles,
  segmentFileName,
  writeFileAtomic,
} from "./outbox-files.js";

/**
 * The outbox's files, with no queue semantics: replay at open, append record frames to the newest
 * segment (rotating at `segmentBytes`), append removal frames to a segment's ack log, delete segments,
 * and keep `state.json`. Callers serialise calls (the Outbox's writer loop does).
 */

export interface OutboxState {
  next_seq: number;
  dropped: number;
}

export interface Replay {
  /** Kept segments, ascending, with their undelivered records in seq order. */
  segments: { firstSeq: number; records: OutboxRecord[] }[];
  /**
   * Highest seq found in any frame, delivered or not, including the ack logs' removal and PUBACK marks
   * (0 when none): a record cut off a torn tail after it left the machine still holds its seq.
   */
  maxSeq: number;
  state: OutboxState;
  /** Damaged regions cut out of segment and ack files, and their size. */
  torn: number;
  torn_bytes: number;
}

const STATE_FILE = "state.json";

export class SegmentStore {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly log: Logger;
  private active: { firstSeq: number; handle: FileHandle; size: number } | null = null;

  constructor(dir: string, segmentBytes: number, log: Logger) {
    this.dir = dir;
    this.segmentBytes = segmentBytes;
    this.log = log;
  }

  /** The segment being appended to; never deleted, so the highest seq handed out is always on disk. */
  activeSegment(): number | null {
    return this.active?.firstSeq ?? null;
  }

  /** Read everything back, repairing damage and removing files a crash left half-deleted. */
  async load(): Promise<Replay> {
    const dir = this.dir;
    await mkdir(dir, { recursive: true });
    const replay: Replay = { segments: [], maxSeq: 0, state: await this.readState(), torn: 0, torn_bytes: 0 };
    const names = await readdir(dir);
    const segmentSeqs: number[] = [];
    const ackSeqs = new Set<number>();
    const stale = names.filter((name) => name.endsWith(".tmp"));
    for (const name of names) {
      const parsed = parseSegmentName(name);
      if (parsed?.ext === "seg") segmentSeqs.push(parsed.firstSeq);
      if (parsed?.ext === "ack") ackSeqs.add(parsed.firstSeq);
    }
    segmentSeqs.sort((a, b) => a - b);
    // An ack log whose segment is gone: the crash came between the two unlinks.
    for (const seq of ackSeqs) if (!segmentSeqs.includes(seq)) stale.push(ackFileName(seq));

    const newest = segmentSeqs.at(-1);
    let newestSize = 0;
    for (const firstSeq of segmentSeqs) {
      const removed = new Set<number>();
      if (ackSeqs.has(firstSeq)) {
        const acks = await this.readRepairing(ackFileName(firstSeq), replay);
        for (const body of acks.bodies) {
          if (body.kind === "record") continue;
          replay.maxSeq = Math.max(replay.maxSeq, body.seq);
          if (body.kind === "removal") removed.add(body.seq);
        }
      }
      const segment = await this.readRepairing(segmentFileName(firstSeq), replay);
      // The file is named after a seq that was handed out, even when its only record was torn away.
      replay.maxSeq = Math.max(replay.maxSeq, firstSeq);
      newestSize = segment.size;
      const records: OutboxRecord[] = [];
      for (const body of segment.bodies) {
        if (body.kind !== "record") continue;
        replay.maxSeq = Math.max(replay.maxSeq, body.record.seq);
        if (!removed.has(body.record.seq)) records.push(body.record);
      }
      if (records.length > 0 || firstSeq === newest) replay.segments.push({ firstSeq, records });
      else stale.push(segmentFileName(firstSeq), ackFileName(firstSeq));
    }
    if (stale.length > 0) await removeFiles(dir, stale);
    if (newest !== undefined) {
      this.active = {
        firstSeq: newest,
        handle: await open(join(dir, segmentFileName(newest)), "a"),
        size: newestSize,
      };
    }
    return replay;
  }

  /**
   * Append frames in order with one fsync per segment touched, starting a new segment (named after its
   * first seq) when the active one would pass `segmentBytes`. `onDurable(segment, n)` reports the next
   * `n` items as safely on disk; an error leaves the rest unwritten and is thrown.
   */
  async append(
    items: { seq: number; frame: Buffer }[],
    onDurable: (segment: number, n: number) => void,
  ): Promise<void> {
    let index = 0;
    while (index < items.length) {
      const first = items[index]!;
      if (
        !this.active ||
        (this.active.size > 0 && this.active.size + first.frame.length > this.segmentBytes)
      ) {
        await this.rotate(first.seq);
      }
      const active = this.active!;
      const batch: Buffer[] = [];
      let size = active.size;
      for (; index < items.length; index++) {
        const frame = items[index]!.frame;
        if (batch.length > 0 && size + frame.length > this.segmentBytes) break;
        batch.push(frame);
        size += frame.length;
      }
      try {
        await active.handle.writev(batch);
        await active.handle.datasync();
      } catch (error) {
        // Seal the segment: its tail may be torn now, and the next load cuts that out.
        this.active = null;
        await active.handle.close().catch(() => undefined);
        throw error;
      }
      active.size = size;
      onDurable(active.firstSeq, batch.length);
    }
  }

  /** Append removal frames to each segment's ack log (one fsync per log). */
  async appendRemovals(removals: Map<number, Buffer[]>): Promise<void> {
    for (const [firstSeq, frames] of removals)
      await appendDurably(join(this.dir, ackFileName(firstSeq)), frames);
  }

  async deleteSegments(firstSeqs: number[]): Promise<void> {
    if (firstSeqs.length === 0) return;
    // Segment before ack log: a crash in between leaves records that replay (duplicates), never loses.
    await removeFiles(
      this.dir,
      firstSeqs.flatMap((seq) => [segmentFileName(seq), ackFileName(seq)]),
    );
  }

  async writeState(state: OutboxState): Promise<void> {
    const text = `${JSON.stringify({ version: 1, ...state })}\n`;
    await writeFileAtomic(join(this.dir, STATE_FILE), text, this.dir);
  }

  async close(): Promise<void> {
    const active = this.active;
    this.active = null;
    await active?.handle.close();
  }

  private async rotate(firstSeq: number): Promise<void> {
    if (this.active) {
      const previous = this.active;
      this.active = null;
      await previous.handle.close();
    }
    const handle = await open(join(this.dir, segmentFileName(firstSeq)), "a");
    await fsyncDir(this.dir);
    this.active = { firstSeq, handle, size: 0 };
  }

  private async readRepairing(name: string, replay: Replay) {
    const result = await readFramesRepairing(this.dir, name);
    if (result.damagedRegions > 0) {
      replay.torn += result.damagedRegions;
      replay.torn_bytes += result.damagedBytes;
      this.log.warn(
        { file: name, regions: result.damagedRegions, bytes: result.damagedBytes },
        "outbox: damaged bytes found (torn write after a crash?) and cut out",
      );
    }
    return result;
  }

  private async readState(): Promise<OutboxState> {
    const path = join(this.dir, STATE_FILE);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { next_seq: 1, dropped: 0 };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as { next_seq?: unknown; dropped?: unknown };
      return {
        next_seq: Number.isSafeInteger(parsed.next_seq) ? (parsed.next_seq as number) : 1,
        dropped: Number.isSafeInteger(parsed.dropped) ? (parsed.dropped as number) : 0,
      };
    } catch (error) {
      // Replaced by rename, so this is outside damage; the seq is still recovered from the segments.
      this.log.warn({ path, err: error }, "outbox: unreadable state file; dropped counter restarts at 0");
      return { next_seq: 1, dropped: 0 };
    }
  }
}
