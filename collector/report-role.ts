import { writeFile } from "node:fs/promises";
import { QosProbeError } from "../agent/errors.js";
import { silentLogger } from "../agent/log.js";
import { type CollectorConfig, loadCollectorConfig } from "./config.js";
import { DEFAULT_COVERAGE_FLOOR } from "./coverage.js";
import {
  DEFAULT_REPORT_LIMITS,
  parseReportRange,
  type ReportFormat,
  reportFromStore,
} from "./report/from-store.js";
import type { Lang } from "./report/i18n.js";
import type { RollupPeriod } from "./rollup.js";
import { type DatabaseSettings, openConfiguredStore } from "./store/open.js";
import type { ResultStore } from "./store/store.js";
import { checkTimeZone, DEFAULT_TIMEZONE } from "./timezone.js";

export interface ReportRoleOptions {
  /** collector.yaml: gives the database and the sites for the map. */
  config?: string;
  /** Overrides the config's database: a postgres:// URL. */
  database_url?: string;
  /** Overrides the config's database: a PGlite directory. */
  data_dir?: string;
  from: string;
  to: string;
  format: ReportFormat;
  lang: Lang;
  period: RollupPeriod;
  /** Write here; without it the report is returned for stdout. */
  out?: string;
  /** IANA zone for buckets and times; default the config's report.timezone, else Asia/Shanghai. */
  timezone?: string;
}

const DEFAULT_PGLITE_DIR = "/var/lib/qos-probe-collector/pglite";

/**
 * `qos-probe report`: the compliance report for [from, to) straight from the store. Returns the
 * rendered report, or "" once written to `out`.
 */
export async function runReport(opts: ReportRoleOptions, now: () => number = Date.now): Promise<string> {
  const config: CollectorConfig | undefined = opts.config ? loadCollectorConfig(opts.config) : undefined;
  const zone = checkTimeZone(opts.timezone ?? config?.report.timezone ?? DEFAULT_TIMEZONE);
  const { from_ms, to_ms } = parseReportRange(opts.from, opts.to, zone);
  const database: DatabaseSettings = opts.database_url
    ? { url: opts.database_url, data_dir: DEFAULT_PGLITE_DIR }
    : opts.data_dir
      ? { data_dir: opts.data_dir }
      : (config?.database ?? { data_dir: DEFAULT_PGLITE_DIR });
  const store = await openForReport(database, config);
  let body: string;
  try {
    body = await reportFromStore(store, {
      from_ms,
      to_ms,
      format: opts.format,
      lang: opts.lang,
      period: opts.period,
      sites: config?.sites ?? [],
      generated_at_ms: now(),
      timezone: zone,
      coverage_floor: config?.report.coverage_floor ?? DEFAULT_COVERAGE_FLOOR,
      expected: config?.expected ?? [],
      limits: config
        ? { max_range_days: config.report.max_range_days, max_buckets: config.report.max_buckets }
        : DEFAULT_REPORT_LIMITS,
    });
  } finally {
    await store.close();
  }
  if (opts.out === undefined) return body;
  await writeFile(opts.out, body);
  return "";
}

/**
 * PGlite is single-writer and a running collector holds its directory: say so, and point at the
 * collector's own report server instead of a second open.
 */
export async function openForReport(
  db: DatabaseSettings,
  config: CollectorConfig | undefined,
): Promise<ResultStore> {
  try {
    return await openConfiguredStore(db, silentLogger());
  } catch (err) {
    if (db.url === undefined && err instanceof QosProbeError && /already open/.test(err.message)) {
      const http = config?.http.enabled ? `http://${config.http.listen}/` : "the collector's report server";
      throw new QosProbeError(
        "STORE",
        `${err.message}: a collector is running on this PGlite directory (PGlite allows one process at a time)`,
        {
          hint: `open the report from the running collector: ${http} (also /report.csv and /report.json with ?from=&to=), or use PostgreSQL to report while collecting`,
          cause: err,
        },
      );
    }
    throw err;
  }
}
