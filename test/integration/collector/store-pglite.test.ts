import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QosProbeError } from "../../../agent/errors.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPgliteStore, PGLITE_LOCK_FILE } from "../../../collector/store/pglite.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult } from "../../helpers/result-factory.js";

describe("PGlite store directory", () => {
  let dataDir: string;
  const open: ResultStore[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "qosprobe-pglite-lock-"));
  });

  afterAll(async () => {
    for (const s of open) await s.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses a second writer, then reopens with the data kept after the first closes", async () => {
    const first = await openPgliteStore({ dataDir });
    open.push(first);
    await first.migrate();
    const msg = makeResult({ operator: "op-persist", intervalStart: "2026-07-01T00:00:00.000Z" });
    await first.insertResults([msg]);
    expect(await readFile(join(dataDir, PGLITE_LOCK_FILE), "utf8")).toMatch(
      // pid, token, then boot id and start time (agent/dir-lock.ts) so a reused pid never holds it.
      new RegExp(`^${process.pid} [0-9a-f]{16} [0-9a-f-]{36} \\d+\n$`),
    );

    const second = openPgliteStore({ dataDir });
    await expect(second).rejects.toBeInstanceOf(QosProbeError);
    await expect(second).rejects.toMatchObject({
      code: "STORE",
      message: `PGlite data directory ${dataDir} is already open by this process (lock file ${join(dataDir, PGLITE_LOCK_FILE)})`,
    });

    await first.close();
    open.pop();
    const reopened = await openPgliteStore({ dataDir });
    open.push(reopened);
    const last = (await loadMigrations()).at(-1)?.version;
    expect(await reopened.migrate()).toEqual({ applied: [], current: last, known: last });
    const rows = await reopened.queryResults({
      from: new Date("2026-07-01T00:00:00Z"),
      to: new Date("2026-07-02T00:00:00Z"),
    });
    expect(rows.map((r) => r.id)).toEqual([msg.id]);
    // PGlite opens take seconds each (three here), many more on a loaded machine.
  }, 120_000);
});
