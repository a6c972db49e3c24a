import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { loadMigrations } from "../../../collector/store/migrate.js";
import { openPostgresStore } from "../../../collector/store/postgres.js";
import { PG_ADMIN_URL } from "../../helpers/store-backends.js";
import { interval, MIN, T0 } from "../../helpers/verdict-streams.js";

/**
 * The one upgrade path: a database at migration 1 holding results (two of them claiming one interval,
 * which version 1 allowed) is migrated to 3 by a collector starting up. Its rows move into the
 * partitioned table, the second claim becomes a reject with the reason, and the window table is built
 * from what was stored. PGlite runs the same script (every store test starts from migration 1 there).
 */

/** A message as migration 1's flat row. */
function v1Row(m: ResultMessage): Record<string, unknown> {
  return {
    id: m.id,
    received_at: new Date().toISOString(),
    seq: m.seq,
    status: m.status,
    operator: m.agent.operator,
    agent_site: m.agent.site,
    agent_province: m.agent.province,
    agent_version: m.agent.version,
    test_id: m.test.id,
    method: m.test.method,
    target: m.test.target,
    peer_site: m.test.peer?.site ?? null,
    peer_province: m.test.peer?.province ?? null,
    distance_km: m.test.distance_km ?? null,
    packet_size_bytes: m.test.packet_size_bytes,
    diagnostic: m.test.diagnostic,
    interval_start: m.interval.start,
    interval_end: m.interval.end,
    ...m.packets,
    loss_ratio: m.loss_ratio,
    rtt_mean_ms: m.rtt_ms.mean,
    rtt_min_ms: m.rtt_ms.min,
    rtt_max_ms: m.rtt_ms.max,
    rtt_median_ms: m.rtt_ms.median,
    rtt_p95_ms: m.rtt_ms.p95,
    rtt_p99_ms: m.rtt_ms.p99,
    dv_max_minus_min_ms: m.delay_variation_ms.max_minus_min,
    dv_basis: m.delay_variation_ms.basis,
    profile: m.verdicts.profile,
    delay_basis: m.verdicts.delay_basis,
    verdict_rtt: m.verdicts.rtt,
    verdict_delay_variation: m.verdicts.delay_variation,
    verdict_loss: m.verdicts.loss,
    payload: m,
  };
}

describe("migration 1 → 3 on PostgreSQL", () => {
  const dbName = `qosprobe_test_${randomBytes(6).toString("hex")}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  const a = interval({ test: "old", start_ms: T0, operator: "op-old" });
  const b = interval({ test: "old", start_ms: T0 + 5 * MIN, operator: "op-old", rtt: 60 });
  const bAgain = interval({ test: "old", start_ms: T0 + 5 * MIN, operator: "op-old", rtt: 900 });

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    const [first] = await loadMigrations();
    await db.query(first?.sql ?? "");
    await db.query(
      "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    await db.query("INSERT INTO schema_migrations (version, name) VALUES (1, 'initial')");
    for (const m of [a, b, bAgain]) {
      await db.query("INSERT INTO results SELECT * FROM jsonb_populate_record(NULL::results, $1::jsonb)", [
        JSON.stringify(v1Row(m)),
      ]);
    }
    await db.end();
  });

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });

  it("moves the results, rejects the second claim with its reason and builds the windows", async () => {
    const store = openPostgresStore({ url: url.toString(), log: silentLogger() });
    try {
      const versions = (await loadMigrations()).map((m) => m.version).filter((v) => v > 1);
      expect(await store.migrate()).toEqual({
        applied: versions,
        current: versions.at(-1),
        known: versions.at(-1),
      });
      const rows = await store.queryResults({ from: new Date(T0), to: new Date(T0 + 60 * MIN) });
      expect(rows.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
      const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 60_000) });
      expect(rejects.map((r) => r.reason)).toEqual([
        `interval 2026-03-02T00:05:00.000Z of test old is already claimed by result ${b.id} (found when migrating to 3)`,
      ]);
      expect(JSON.parse(Buffer.from(rejects[0]?.raw ?? []).toString())).toEqual(bAgain);
      const agg = await store.queryAggregates({ bucket_starts: [T0], from_ms: T0, to_ms: T0 + 60 * MIN });
      // Two intervals, RTT 40 and 60: the refused 900 ms claim is not in the mean.
      expect(agg.map((x) => [x.results, x.rtt_n, x.rtt_sum, x.measured])).toEqual([[2, 2, 100, 2]]);
    } finally {
      await store.close();
    }
  });
});
