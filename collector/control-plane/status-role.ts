import { QosProbeError } from "../../agent/errors.js";
import { type CollectorConfig, loadCollectorConfig } from "../config.js";
import { openForReport, storeToRead } from "../report-role.js";
import type { ConfigStatusReport, SiteConfigStatus } from "./config-status.js";
import { configStatusFromStore, registeredSites } from "./from-store.js";

export interface ConfigStatusRoleOptions {
  config?: string;
  database_url?: string;
  data_dir?: string;
  site?: string;
  /** The version every site should run (default: the newest signed version seen). */
  expect?: number;
  /** Seconds without a heartbeat before a site is stale (default 3 × the agent's own period). */
  stale_after_s?: number;
  json?: boolean;
}

/**
 * `qos-probe config status`: per site, the version it runs and who is not on the expected one. Returns
 * the text to print and whether every site is on the expected version with a fresh heartbeat (the
 * command exits 1 otherwise, so a cron job can alert on it).
 */
export async function runConfigStatus(
  opts: ConfigStatusRoleOptions,
  now: () => number = Date.now,
): Promise<{ text: string; ok: boolean }> {
  const config: CollectorConfig | undefined = opts.config ? loadCollectorConfig(opts.config) : undefined;
  const store = await openForReport(storeToRead("config status", opts, config), config);
  let report: ConfigStatusReport;
  try {
    const registered = registeredSites(config?.sites ?? []);
    const query = {
      now_ms: now(),
      ...(opts.expect !== undefined ? { expect: opts.expect } : {}),
      ...(opts.stale_after_s !== undefined ? { stale_after_s: opts.stale_after_s } : {}),
    };
    report = await configStatusFromStore(
      store,
      { ...query, ...(opts.site !== undefined ? { site: opts.site } : {}) },
      registered,
    );
    if (opts.site !== undefined && report.sites.length === 0) {
      // An unknown site is a usage error (a typo must not read as "all fine"): name the known ones.
      const known = [
        ...new Set((await configStatusFromStore(store, query, registered)).sites.map((s) => s.site)),
      ];
      const which = known.length === 0 ? "no site is known yet" : `known sites: ${known.sort().join(", ")}`;
      throw new QosProbeError("USAGE", `config status: no site "${opts.site}" in this store (${which})`, {
        hint: "give --site one of the known sites; sites appear with their first heartbeat or ack, or from the collector config's sites",
      });
    }
  } finally {
    await store.close();
  }
  const text = opts.json ? JSON.stringify(report, null, 2) : formatConfigStatus(report);
  return { text, ok: report.not_ok === 0 };
}

/** "42s", "5m 3s", "2h 10m", "3d 4h": how long ago, for people. */
export function formatAge(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function heartbeatCell(s: SiteConfigStatus): string {
  const h = s.heartbeat;
  if (h.last === null) return "never";
  const age = `${formatAge(h.age_s ?? 0)} ago`;
  if (h.state === "offline") return `offline (${age})`;
  return h.stale ? `STALE ${age}` : age;
}

function whyCell(s: SiteConfigStatus): string {
  if (s.state === "rejected" && s.rejection) {
    const v = s.rejection.config_version === null ? "envelope" : `v${s.rejection.config_version}`;
    return `${v}: ${s.rejection.reason ?? ""}`;
  }
  if (s.state === "pending") return "no answer on the expected version yet";
  if (s.state === "never-acked") return "no ack ever stored";
  if (s.state === "ahead") return "newer than expected";
  return "";
}

/** A fixed-width table, one row per site, then one line per site that is not ok. */
export function formatConfigStatus(r: ConfigStatusReport): string {
  const expected =
    r.expected_version === null
      ? "expected: none (no signed configuration acked or live anywhere; give --expect N)"
      : `expected: v${r.expected_version} (${r.expected_from === "expect" ? "--expect" : "newest version acked or live at any site"})`;
  if (r.sites.length === 0) {
    return `${expected}\nno sites yet (sites appear with their first heartbeat or ack, or from the collector config)`;
  }
  const header = ["site", "operator", "state", "running", "accepted at", "heartbeat", "key", "reason"];
  const body = r.sites.map((s) => [
    s.site,
    s.operator,
    s.ok ? s.state : `${s.state} ✗`,
    s.running_version === null ? "bootstrap" : `v${s.running_version}`,
    s.accepted_at ?? "–",
    heartbeatCell(s),
    s.device_key_id === null ? "–" : s.device_key_id.slice(0, 8),
    whyCell(s),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join("  ")
      .trimEnd();
  const onVersion = r.sites.filter((s) => s.state === "current").length;
  const tally =
    r.expected_version === null
      ? `${r.sites.length - r.not_ok} of ${r.sites.length} sites with a fresh heartbeat`
      : `${onVersion} of ${r.sites.length} sites on v${r.expected_version}; ${r.not_ok} not ok`;
  const notes = r.sites.filter((s) => !s.ok).map((s) => `  ${s.operator}/${s.site}: ${s.detail}`);
  return [expected, line(header), ...body.map(line), tally, ...notes].join("\n");
}
