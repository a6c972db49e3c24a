import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFromStore, reportModelFromStore } from "../../../collector/report/from-store.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * The report's "Delivery gaps" from a real PostgreSQL store: the seq islands of the `results` table
 * and the agent's last heartbeat in `site_status`, the same query path as `qos-probe gaps`.
 */

const postgres = backends.find((b) => b.name === "postgres")!;
const T0 = Date.parse("2026-11-01T00:00:00Z");

describe("delivery gaps in the report from PostgreSQL", () => {
  let store: ResultStore;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    ({ store, dispose } = await postgres.open());
    await store.migrate();
    // bj-01 stored seqs 1, 2, 3, 5, 8 (one minute each): 4, 6 and 7 never arrived.
    const seqs = [1, 2, 3, 5, 8];
    const results = seqs.map((seq) =>
      makeResult({
        operator: "op-g",
        site: "bj-01",
        seq,
        intervalStart: new Date(T0 + seq * 60_000).toISOString(),
      }),
    );
    expect(await store.insertResults(results)).toMatchObject({ inserted: 5, duplicates: 0 });
    await store.upsertStatus({
      operator: "op-g",
      province: "BJ",
      site: "bj-01",
      state: "online",
      last_heartbeat: new Date("2026-11-01T00:10:00Z"),
      outbox_depth: 0,
      dropped: 1,
      version: "0.1.0",
      payload: { outbox: { next_seq: 9 } },
    });
  }, 120_000);

  afterAll(async () => {
    await dispose();
  });

  const request = {
    from_ms: T0,
    to_ms: T0 + 86_400_000,
    period: "day" as const,
    lang: "en" as const,
    generated_at_ms: T0 + 2 * 86_400_000,
    timezone: "Asia/Shanghai",
    sites: [],
  };

  it("lists the missing seqs next to the heartbeat's dropped count", async () => {
    const model = await reportModelFromStore(store, { ...request, format: "json" });
    expect(model.gaps).toEqual([
      {
        operator: "op-g",
        province: "BJ",
        site: "bj-01",
        stored: 5,
        highest: 8,
        missing_ranges: [
          [4, 4],
          [6, 7],
        ],
        missing: 3,
        heartbeat_dropped: 1,
        heartbeat_depth: 0,
        heartbeat_next_seq: 9,
        last_heartbeat: "2026-11-01T08:10:00+08:00",
      },
    ]);
  });

  it("draws the same rows in the HTML report", async () => {
    const html = await reportFromStore(store, { ...request, format: "html" });
    const row = html.match(/<tr data-testid="gaps-row"[^>]*>.*?<\/tr>/g) ?? [];
    expect(row).toHaveLength(1);
    expect(row[0]).toContain('data-site="bj-01" data-missing="3"');
    expect(row[0]).toContain('<td data-testid="gaps-ranges">4, 6–7</td>');
  });
});
