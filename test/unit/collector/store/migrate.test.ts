import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadMigrations } from "../../../../collector/store/migrate.js";

describe("loadMigrations", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-migrations-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds the shipped migrations: 001 the three tables, 002 the agent seq watermark, 003 the partitioned ones, 004 the hourly rollup and evidence chains, 005 the control plane, 006 the signature-checked count, 007 the rollup queue, 008 the partition race, 009 the verbatim payload text, 010 the rollup tables' fillfactor, 011 the unchecked payload text", async () => {
    const shipped = await loadMigrations();
    expect(shipped.map((m) => [m.version, m.name])).toEqual([
      [1, "initial"],
      [2, "agent-seqs"],
      [3, "partitions-windows"],
      [4, "hours-evidence"],
      [5, "config-control"],
      [6, "evidence-checked"],
      [7, "rollup-queue"],
      [8, "partition-race"],
      [9, "payload-text"],
      [10, "windows-fillfactor"],
      [11, "payload-unchecked"],
    ]);
    const creates = (i: number) =>
      [...(shipped[i]?.sql ?? "").matchAll(/CREATE TABLE (\w+)/g)].map((m) => m[1]);
    expect(creates(0)).toEqual(["results", "rejects", "site_status"]);
    expect(creates(1)).toEqual(["agent_seqs"]);
    expect(creates(2)).toEqual(["results", "windows", "fault_windows"]);
    expect(creates(3)).toEqual(["window_hours", "evidence_chains", "evidence_breaks", "rejected_seqs"]);
    expect(creates(4)).toEqual(["config_acks", "site_control"]);
    expect(creates(6)).toEqual(["rollup_queue"]);
    expect(shipped[7]?.sql).toContain("EXCEPTION WHEN duplicate_table");
    expect(shipped[10]?.sql).toContain("ADD COLUMN payload_text text");
  });

  it("orders by version and ignores files that are not .sql", async () => {
    await writeFile(join(dir, "002-add-index.sql"), "CREATE INDEX b ON t (b);");
    await writeFile(join(dir, "001-base.sql"), "CREATE TABLE t (b int);");
    await writeFile(join(dir, "README.md"), "notes");
    expect(await loadMigrations(dir)).toEqual([
      { version: 1, name: "base", sql: "CREATE TABLE t (b int);" },
      { version: 2, name: "add-index", sql: "CREATE INDEX b ON t (b);" },
    ]);
  });

  it("refuses a gap in versions", async () => {
    await writeFile(join(dir, "001-base.sql"), "");
    await writeFile(join(dir, "003-late.sql"), "");
    await expect(loadMigrations(dir)).rejects.toMatchObject({
      code: "STORE",
      message: "migration 003-late.sql has version 3, expected 2",
    });
  });

  it("refuses a file name without a version", async () => {
    await writeFile(join(dir, "base.sql"), "");
    await expect(loadMigrations(dir)).rejects.toMatchObject({
      message: "migration file name base.sql is not NNN-name.sql",
    });
  });
});
