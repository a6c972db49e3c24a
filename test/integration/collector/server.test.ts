import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { UTF8_BOM } from "../../../collector/report/csv.js";
import { label } from "../../../collector/report/i18n.js";
import { ReportServer } from "../../../collector/report/server.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/** The report server on a real loopback port over a PGlite store holding three minutes of one pair. */
const pglite = backends.find((b) => b.name === "pglite");
if (!pglite) throw new Error("no pglite backend");

describe("report server", () => {
  let store: ResultStore;
  let dispose: () => Promise<void>;
  let server: ReportServer;
  let base: string;

  beforeAll(async () => {
    ({ store, dispose } = await pglite.open());
    await store.migrate();
    await store.insertResults(
      [0, 1, 2].map((m) => makeResult({ seq: m + 1, intervalStart: `2026-01-01T10:0${m}:00.000Z` })),
    );
    await store.upsertStatus({ operator: "op-a", province: "BJ", site: "bj-01", state: "online" });
    server = new ReportServer({
      store,
      log: silentLogger(),
      host: "127.0.0.1",
      port: 0,
      lang: "zh",
      period: "day",
      window_days: 31,
      sites: [],
      timezone: "UTC",
      coverage_floor: 0.9,
      counters: () => ({ stored: 3 }),
      // "now" is 2026-01-02: the default window [2025-12-02, 2026-01-02) holds the three results.
      now: () => Date.parse("2026-01-02T00:00:00Z"),
    });
    const address: AddressInfo = await server.start();
    base = `http://127.0.0.1:${address.port}`;
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await dispose?.();
  });

  it("GET / renders the HTML report of the default window with the pair's rows", async () => {
    const res = await fetch(`${base}/?lang=en&period=all`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await res.text();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    // period=all over one pair: one bucket row plus the pair's overall row
    expect(html.match(/data-testid="pair-row"/g)).toHaveLength(1);
    expect(html).toContain("bj-01");
    expect(html).toContain("gz-01");
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it("/report.csv has the header in the requested language and one row per day bucket", async () => {
    const res = await fetch(`${base}/report.csv?from=2026-01-01&to=2026-01-02&lang=en&period=day`);
    expect(res.status).toBe(200);
    // Read the bytes: fetch's text() would drop the BOM that spreadsheet programs need.
    const text = Buffer.from(await res.arrayBuffer()).toString("utf8");
    expect(text.startsWith(UTF8_BOM)).toBe(true);
    const lines = text.slice(1).trimEnd().split(/\r?\n/);
    expect(lines[0]?.startsWith(`${label("en", "operator")},${label("en", "from_site")},`)).toBe(true);
    // One day [2026-01-01, 2026-01-02), one pair → header + 1 row
    expect(lines).toHaveLength(2);
    expect(lines[1]?.startsWith("op-a,bj-01,")).toBe(true);
  });

  it("/report.json is the report model for the query", async () => {
    const res = await fetch(
      `${base}/report.json?from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z&period=hour`,
    );
    const model = (await res.json()) as {
      schema: string;
      lang: string;
      period: { from: string; to: string };
    };
    expect(model.schema).toBe("qosprobe.report/2");
    expect(model.lang).toBe("zh");
    expect(model.period.from).toBe("2026-01-01T10:00:00+00:00");
    expect(model.period.to).toBe("2026-01-01T11:00:00+00:00");
  });

  it("/healthz returns the counters; /api/sites the status rows", async () => {
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ stored: 3 });
    const sites = (await (await fetch(`${base}/api/sites`)).json()) as Array<{ site: string; state: string }>;
    expect(sites.map((s) => [s.site, s.state])).toEqual([["bj-01", "online"]]);
  });

  it("answers 404 for unknown paths, 405 for writes, 400 for a bad query", async () => {
    expect((await fetch(`${base}/admin`)).status).toBe(404);
    const post = await fetch(`${base}/report.csv`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${base}/?from=yesterday`)).status).toBe(400);
    expect((await fetch(`${base}/?lang=fr`)).status).toBe(400);
  });

  it("answers 400 with the bound and the fix for a range or bucket count over the limits", async () => {
    const old = await fetch(`${base}/?from=1990-01-01&period=hour`);
    expect(old.status).toBe(400);
    expect(await old.text()).toBe(
      "the report range is 13150 days, more than the 400 allowed (ask for a shorter range (e.g. one month), or raise report.max_range_days)\n",
    );
    const hourly = await fetch(`${base}/report.csv?from=2025-10-01&to=2026-01-01&period=hour`);
    expect(hourly.status).toBe(400);
    expect(await hourly.text()).toMatch(
      /^period=hour over this range makes about 2209 buckets per pair, more than the 744 allowed/,
    );
  });

  it("serves a repeated request from its cache", async () => {
    const url = `${base}/report.json?from=2026-01-01&to=2026-01-02&period=hour`;
    const first = await (await fetch(url)).text();
    const before = server.cacheStats();
    expect(await (await fetch(url)).text()).toBe(first);
    expect(server.cacheStats().hits).toBe(before.hits + 1);
  });
});
