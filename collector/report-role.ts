import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { QosProbeError } from "../agent/errors.js";
import { silentLogger } from "../agent/log.js";
import { type CollectorConfig, isPostgresUrl, loadCollectorConfig } from "./config.js";
import { DEFAULT_COVERAGE_FLOOR } from "./coverage.js";
import {
  DEFAULT_REPORT_LIMITS,
  parseReportRange,
  type ReportFormat,
  reportFromStore,
} from "./report/from-store.js";
import type { Lang } from "./report/i18n.js";
import type { RollupPeriod } from "./rollup.js";
import { type DatabaseSettings, describeDatabase, openConfiguredStore } from "./store/open.js";
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

/** The collector's PGlite directory when its configuration names none (collector/config.ts). */
export const DEFAULT_PGLITE_DIR = "/var/lib/qos-probe-collector/pglite";

/** Where a read command (report, gaps, config status) may look for the store. */
export interface StoreFlags {
  config?: string;
  database_url?: string;
  data_dir?: string;
}

/**
 * The store a read command reads: --database-url, else --data-dir, else the config's database, else the
 * collector's default PGlite directory. A read never creates state, so a PGlite directory that holds no
 * database is refused (PGlite would create one there) with what was looked at and how to point at the
 * real store: QosProbeError USAGE (exit 2).
 */
export function storeToRead(
  command: string,
  flags: StoreFlags,
  config: CollectorConfig | undefined,
): DatabaseSettings {
  if (flags.database_url) {
    // node-postgres would take "notaurl" for a host name and fail with ENOTFOUND (exit 1): it is a usage error.
    if (!isPostgresUrl(flags.database_url)) {
      const shown = flags.database_url.includes("@")
        ? "(value not shown: it may hold a password)"
        : `"${flags.database_url}"`;
      throw new QosProbeError(
        "USAGE",
        `--database-url ${shown} is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or postgresql://…)`,
        {
          hint: `for the collector's PGlite store give its directory as --data-dir DIR (database.data_dir; default ${DEFAULT_PGLITE_DIR}), or --config collector.yaml`,
        },
      );
    }
    return { url: flags.database_url, data_dir: DEFAULT_PGLITE_DIR };
  }
  const db: DatabaseSettings = flags.data_dir
    ? { data_dir: flags.data_dir }
    : (config?.database ?? { data_dir: DEFAULT_PGLITE_DIR });
  if (db.url !== undefined) return db;
  // PG_VERSION is the first file initdb writes: without it the directory is not a database yet.
  if (existsSync(join(db.data_dir, "PG_VERSION"))) return db;
  const source = flags.data_dir
    ? "--data-dir"
    : config
      ? `database.data_dir of ${flags.config}`
      : "the collector's default, as neither --config, --database-url nor --data-dir was given";
  throw new QosProbeError(
    "USAGE",
    `${command} reads the collector's store: there is no PGlite database in ${db.data_dir} (${source}), and a read does not create one`,
    {
      hint: `point at the collector's store: --config collector.yaml (its database section), --database-url postgres://USER@HOST/DB, or --data-dir DIR (the collector's PGlite directory)`,
    },
  );
}

/**
 * `qos-probe report`: the compliance report for [from, to) straight from the store. Returns the
 * rendered report, or "" once written to `out`.
 */
export async function runReport(opts: ReportRoleOptions, now: () => number = Date.now): Promise<string> {
  const config: CollectorConfig | undefined = opts.config ? loadCollectorConfig(opts.config) : undefined;
  const zone = checkTimeZone(opts.timezone ?? config?.report.timezone ?? DEFAULT_TIMEZONE);
  const { from_ms, to_ms } = parseReportRange(opts.from, opts.to, zone);
  const store = await openForReport(storeToRead("report", opts, config), config);
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
  let store: ResultStore;
  try {
    store = await openConfiguredStore(db, silentLogger());
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
  // A read never migrates (that is the collector's job, under its lock): a schema that is missing or
  // behind this program is refused, naming what was found and what is needed.
  let schema: { current: number; needed: number };
  try {
    schema = await store.schemaVersion();
  } catch (err) {
    await store.close();
    throw err;
  }
  if (schema.current < schema.needed) {
    await store.close();
    const found =
      schema.current === 0
        ? `this database has no qos-probe store (this version needs migration ${schema.needed})`
        : `this database's qos-probe store is at migration ${schema.current}, this version needs ${schema.needed}`;
    throw new QosProbeError("USAGE", `${describeDatabase(db)}: ${found}, and a read does not migrate`, {
      hint: "point at the collector's database, or start the collector once to migrate it",
    });
  }
  // A newer qos-probe migrated it: rows it stored can hold what this version does not read (migration
  // 011 moved the payload to a column versions ≤ 010 do not know, which they read back as null).
  if (schema.current > schema.needed) {
    await store.close();
    throw new QosProbeError(
      "USAGE",
      `${describeDatabase(db)}: this database's qos-probe store is at migration ${schema.current}, newer than this version (${schema.needed}); a read with it could miss what newer results hold`,
      { hint: "run this command with the qos-probe version the collector runs (or newer)" },
    );
  }
  return store;
}
