import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QosProbeError } from "../../../agent/errors.js";
import { runReport } from "../../../collector/report-role.js";
import { openPgliteStore } from "../../../collector/store/pglite.js";
import { makeResult } from "../../helpers/result-factory.js";

/** `qos-probe report` on a PGlite directory: refused with advice while a collector holds it, then read. */
describe("runReport on PGlite", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-report-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names the running collector, then reports once the directory is free", async () => {
    const held = await openPgliteStore({ dataDir: dir });
    await held.migrate();
    await held.insertResults(
      [0, 1].map((m) => makeResult({ seq: m + 1, intervalStart: `2026-11-01T0${m}:00:00Z` })),
    );
    const opts = {
      data_dir: dir,
      from: "2026-11-01",
      to: "2026-11-02",
      format: "csv",
      lang: "en",
      period: "day",
    } as const;
    try {
      await expect(runReport(opts)).rejects.toThrow(QosProbeError);
      await expect(runReport(opts)).rejects.toThrow(/a collector is running on this PGlite directory/);
    } finally {
      await held.close();
    }
    const csv = await runReport(opts, () => Date.parse("2026-11-02T00:00:00Z"));
    // One day [2026-11-01, 2026-11-02), one pair bj-01 → gz-01: header + 1 row
    const lines = csv.slice(1).trimEnd().split(/\r?\n/);
    expect(lines).toHaveLength(2);
    expect(lines[1]?.startsWith("op-a,bj-01,")).toBe(true);
  }, 60_000);

  it("refuses a range whose end is not after its start", async () => {
    await expect(
      runReport({
        data_dir: dir,
        from: "2026-11-02",
        to: "2026-11-01",
        format: "json",
        lang: "zh",
        period: "all",
      }),
    ).rejects.toThrow("--to 2026-11-01 is not after --from 2026-11-02");
  });
});
