import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkHealth, onlineStatus, writeStatusFile } from "../../../agent/heartbeat.js";

const ID = { site: "bj-01", operator: "op", province: "110000", version: "0.1.0" };

function status(at: Date, depth: number) {
  return onlineStatus(ID, {
    at,
    heartbeat_interval_s: 60,
    config_version: "v7",
    config_hash: "abcdef012345",
    config_loaded_at: new Date(Date.UTC(2026, 10, 30, 12, 0, 0)),
    outbox: { depth, dropped: 0, bytes: 0, awaiting_receipt: 0, append_failed: 0, next_seq: 1 },
    receipts: { mode: "required" },
    clock: { synced: true, source: "adjtimex" },
    host: null,
    reflector: null,
    tests: 2,
    uptime_s: 5,
    mqtt: { published: 0, acked: 0, failed: 0, not_delivered: 0 },
  });
}

describe("status.json", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-status-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("survives two heartbeats written at once (first start + fresh connection): no ENOENT, no tmp left", async () => {
    const at = new Date();
    await Promise.all([writeStatusFile(dir, status(at, 1)), writeStatusFile(dir, status(at, 2))]);
    expect(await readdir(dir)).toEqual(["status.json"]);
    const written = JSON.parse(await readFile(join(dir, "status.json"), "utf8"));
    expect([1, 2]).toContain(written.outbox.depth);
    expect(written.config_loaded_at).toBe("2026-11-30T12:00:00.000Z");
    expect((await checkHealth(dir, 60_000, at.getTime())).ok).toBe(true);
  });
});
