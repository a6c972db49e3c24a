import { describe, expect, it } from "vitest";
import { configStatus } from "../../../collector/control-plane/config-status.js";
import type { ConfigAckRow, SiteControlRow } from "../../../collector/control-plane/store.js";
import { renderHtml } from "../../../collector/report/html.js";
import { buildReport, type ReportOptions, renderJson } from "../../../collector/report/model.js";

/** The report's "Configuration" section: model (JSON) and HTML, both languages, times in the report zone. */

const T0 = Date.parse("2026-11-01T00:00:00+08:00");
const NOW = Date.parse("2026-11-02T12:00:00Z");
const opts = (lang: "zh" | "en"): ReportOptions => ({
  from_ms: T0,
  to_ms: T0 + 86_400_000,
  period: "day",
  lang,
  generated_at_ms: NOW,
  timezone: "Asia/Shanghai",
});

function control(site: string, last: string, signed: number): SiteControlRow {
  return {
    operator: "op",
    province: "110000",
    site,
    last_heartbeat: new Date(last),
    heartbeat_interval_s: 60,
    config_label: String(signed),
    config_hash: `h${signed}`,
    signed_version: signed,
    signed_hash: `h${signed}`,
    signed_key_id: "k",
    signed_accepted_at: new Date("2026-11-02T10:00:00Z"),
    signed_issued_at: null,
    signed_source: null,
    regulator_keys: ["k"],
    device_key: null,
    device_key_id: "0123456789abcdefXYZ",
    updated_at: new Date(last),
  };
}

const ack = (
  id: number,
  site: string,
  decision: "accepted" | "rejected",
  v: number,
  live: number,
  reason: string | null,
): ConfigAckRow => ({
  id,
  received_at: new Date("2026-11-02T11:00:00Z"),
  operator: "op",
  province: "110000",
  site,
  at: new Date("2026-11-02T11:00:00Z"),
  decision,
  config_version: v,
  config_hash: `h${v}`,
  key_id: "k",
  reason,
  source: "mqtt:x",
  live_version: live,
});

// ok: on v3, heartbeat 30 s old. old: rejected v3 (rollback floor), runs v2. gone: on v3, 10 min silent.
const view = configStatus(
  {
    statuses: [],
    control: [
      control("ok", "2026-11-02T11:59:30Z", 3),
      control("old", "2026-11-02T11:59:30Z", 2),
      control("gone", "2026-11-02T11:50:00Z", 3),
    ],
    acks: [
      ack(1, "ok", "accepted", 3, 3, null),
      ack(2, "old", "rejected", 3, 2, "invalid: <tests[0]> & more"),
      ack(3, "gone", "accepted", 3, 3, null),
    ],
  },
  { now_ms: NOW },
);

const rowText = (html: string, site: string): string => {
  const rows = html.match(/<tr data-testid="config-row"[^>]*>.*?<\/tr>/g) ?? [];
  const hit = rows.filter((r) => r.includes(`data-site="${site}"`));
  expect(hit).toHaveLength(1);
  return (hit[0] ?? "")
    .replace(/<\/t[hd]>/g, "|")
    .replace(/<[^>]+>/g, "")
    .replace(/\|$/, "");
};

describe("report: Configuration section", () => {
  it("is absent when not computed (a report built from result messages)", () => {
    const model = buildReport({ buckets: [], aggregates: [], faults: [] }, opts("en"));
    expect(model.configuration).toBeUndefined();
    expect(renderHtml(model)).not.toContain('data-testid="configuration"');
  });

  it("JSON: the config-status view with every time in the report zone", () => {
    const model = buildReport({ buckets: [], aggregates: [], faults: [], configuration: view }, opts("en"));
    const json = JSON.parse(renderJson(model));
    expect(json.configuration).toMatchObject({
      schema: "qosprobe.config-status/1",
      generated_at: "2026-11-02T20:00:00+08:00",
      expected_version: 3,
      expected_from: "newest-seen",
      not_ok: 2,
    });
    const old = json.configuration.sites.find((s: { site: string }) => s.site === "old");
    expect(old).toMatchObject({
      state: "rejected",
      running_version: 2,
      accepted_at: "2026-11-02T18:00:00+08:00",
      heartbeat: { last: "2026-11-02T19:59:30+08:00", age_s: 30, stale: false },
      rejection: { at: "2026-11-02T19:00:00+08:00", reason: "invalid: <tests[0]> & more" },
    });
  });

  it("HTML in English: expected version, summary, one row per site, reasons escaped", () => {
    const html = renderHtml(
      buildReport({ buckets: [], aggregates: [], faults: [], configuration: view }, opts("en")),
    );
    expect(html).toContain("<h2>Configuration</h2>");
    expect(html).toContain('<p data-testid="config-expected" data-version="3">Expected version: v3</p>');
    expect(html).toContain(
      '<p data-testid="config-some" data-sites="2">Sites not on the expected version, or not heard from: 2 / 3</p>',
    );
    expect(rowText(html, "ok")).toBe(
      "op/ok|current|v3|2026-11-02 18:00 +08:00|2026-11-02 19:59 +08:00|0123456789ab|",
    );
    expect(rowText(html, "old")).toBe(
      "op/old|rejected|v2|2026-11-02 18:00 +08:00|2026-11-02 19:59 +08:00|0123456789ab|v3: invalid: &lt;tests[0]&gt; &amp; more",
    );
    // 12:00:00 − 11:50:00 = 600 s > 180 s.
    expect(rowText(html, "gone")).toBe(
      "op/gone|current|v3|2026-11-02 18:00 +08:00|2026-11-02 19:50 +08:00 (stale)|0123456789ab|",
    );
    expect(html).toMatch(/data-site="gone" data-state="current" data-ok="false"/);
  });

  it("HTML in Chinese", () => {
    const html = renderHtml(
      buildReport({ buckets: [], aggregates: [], faults: [], configuration: view }, opts("zh")),
    );
    expect(html).toContain("<h2>配置</h2>");
    expect(html).toContain("应有版本: v3");
    expect(rowText(html, "old").split("|").slice(0, 3)).toEqual(["op/old", "已拒绝", "v2"]);
    expect(rowText(html, "gone")).toContain("(过期)");
  });
});
