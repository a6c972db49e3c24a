import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import * as z from "zod";
import { fromZodIssues } from "../agent/config/issues.js";
import { parseYamlConfig } from "../agent/config/load.js";
import { checkMqtt } from "../agent/config/rules.js";
import {
  FileRef,
  MqttTls,
  MqttUrl,
  parseHostPort,
  SecretRef,
  SiteSchema,
  TestSchema,
} from "../agent/config/schema.js";
import { ConfigError, QosProbeError } from "../agent/errors.js";
import { DEFAULT_SHARE_GROUP, DEFAULT_TOPIC_ROOT, topicSegmentProblem } from "../agent/publish/topics.js";
import { DEFAULT_COVERAGE_FLOOR, type ExpectedTest, expectedTests } from "./coverage.js";
import { DEFAULT_REPORT_LIMITS } from "./report/from-store.js";
import type { SiteInfo } from "./report/sites.js";
import { DEFAULT_TIMEZONE, isTimeZone } from "./timezone.js";

/**
 * The collector configuration (collector.yaml), version 1: the same conventions and error rendering as
 * the agent's (strict sections, defaults here, `file: path: message (hint)` with line:col).
 */

type Env = Record<string, string | undefined>;

/** Connections per collector: each is one share-group member with its own persistent session. */
const MAX_CONNECTIONS = 32;
export const DEFAULT_CONNECTIONS_MQTT5 = 4;
const TOPIC_LEVELS = /^[^/#+\s$][^/#+\s]*(\/[^/#+\s]+)*$/;

const MqttSection = z
  .object({
    url: MqttUrl,
    protocol_version: z
      .union([z.literal(5), z.literal(4)])
      .default(5)
      .describe("4 (MQTT 3.1.1) only for the embedded aedes broker: no shared subscriptions there"),
    client_id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe(
        "stable across restarts so the broker keeps the session; default qosprobe-collector-<hostname>-<random>, made once and kept in data_dir/client-id",
      ),
    share_group: z
      .string()
      .refine((s) => topicSegmentProblem(s) === null, { error: "must be one topic level (no / + # or NUL)" })
      .default(DEFAULT_SHARE_GROUP),
    topic_root: z
      .string()
      .regex(TOPIC_LEVELS, { error: "must be topic levels without wildcards, empty levels or a leading $" })
      .default(DEFAULT_TOPIC_ROOT),
    username: SecretRef.optional(),
    password: SecretRef.optional(),
    tls: MqttTls.optional(),
    session_expiry_s: z
      .number()
      .int()
      .min(0)
      .max(4_294_967_295)
      .default(86_400)
      .describe("how long the broker keeps undelivered results while the collector is down (MQTT 5)"),
    keepalive_s: z.number().int().min(0).max(65535).default(30),
    connections: z
      .number()
      .int()
      .min(1)
      .max(MAX_CONNECTIONS)
      .optional()
      .describe(
        "MQTT connections in the share group, client ids <client_id>-<i>; default 4 (MQTT 5), always 1 on MQTT 3.1.1",
      ),
  })
  .strict()
  .superRefine(checkMqtt)
  .superRefine((m, ctx) => {
    if (m.protocol_version === 4 && m.connections !== undefined && m.connections > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["connections"],
        message: "more than one connection needs MQTT 5 shared subscriptions",
        params: { hint: "remove connections, or use protocol_version: 5 with Mosquitto or EMQX" },
      });
    }
  });

/** A URL node-postgres connects with: postgres:// or postgresql:// (database.url, --database-url). */
export function isPostgresUrl(s: string): boolean {
  try {
    return ["postgres:", "postgresql:"].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}

const PostgresUrl = z.string().refine(isPostgresUrl, { error: "must be a postgres:// or postgresql:// URL" });

const DatabaseSection = z
  .object({
    url: z
      .union([PostgresUrl, FileRef], {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${ENV} syntax, shown to the user
        error: 'expected a postgres:// URL ("${ENV}" allowed) or { file: PATH }',
      })
      .optional()
      .describe("absent: embedded PGlite in data_dir"),
    data_dir: z.string().min(1).default("/var/lib/qos-probe-collector/pglite"),
  })
  .strict();

/**
 * Results per write at most (ingest.batch_size). bench:report with 3 write lanes, 4 alternated pairs:
 * 500 → 1,000 gave unsigned 17,985–18,581 → 19,183–19,798 results/s stored, signed 11,241–12,910 →
 * 12,801–14,512 (one chain upsert and commit per batch). Group commit takes what is waiting, so a quiet
 * collector still writes each result at once; the bound only matters for a backlog.
 */
export const DEFAULT_BATCH_SIZE = 1000;

const IngestSection = z
  .object({
    batch_size: z.number().int().min(1).max(10_000).default(DEFAULT_BATCH_SIZE),
    flush_interval_ms: z.number().int().min(10).max(60_000).default(1000),
    receipt_interval_ms: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(1000)
      .describe("store receipts are coalesced: at most one per agent this often"),
    results_stale_s: z
      .number()
      .int()
      .min(10)
      .max(86_400)
      .default(300)
      .describe("statuses arrive but no result for this long: /healthz flags results_stale"),
  })
  .strict();

const HttpSection = z
  .object({
    enabled: z.boolean().default(true),
    listen: z
      .string()
      .refine((s) => parseHostPort(s) !== undefined, { error: 'must be "host:port" or "[v6]:port"' })
      .default("127.0.0.1:8080"),
  })
  .strict();

const ReportSection = z
  .object({
    lang: z.enum(["zh", "en"]).default("zh"),
    period: z.enum(["hour", "day", "month", "all"]).default("day"),
    window_days: z.number().int().min(1).max(3660).default(31),
    timezone: z
      .string()
      .refine(isTimeZone, {
        error: "must be an IANA time zone name",
        params: { hint: "e.g. Asia/Shanghai (the default) or UTC" },
      })
      .default(DEFAULT_TIMEZONE)
      .describe("hours, days and months are cut in this zone; every time is printed with its offset"),
    coverage_floor: z
      .number()
      .min(0)
      .max(1)
      .default(DEFAULT_COVERAGE_FLOOR)
      .describe("share of expected 5-minute windows a verdict needs; below it the verdict is insufficient"),
    max_range_days: z.number().int().min(1).max(3660).default(DEFAULT_REPORT_LIMITS.max_range_days),
    max_buckets: z.number().int().min(1).max(100_000).default(DEFAULT_REPORT_LIMITS.max_buckets),
    cache_s: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe("how long a rendered report whose range reaches now is reused (ten times longer once ended)"),
  })
  .strict();

const CollectorConfigObject = z
  .object({
    version: z.literal(1, { error: "this collector reads configuration version 1" }),
    data_dir: z
      .string()
      .min(1)
      .default("/var/lib/qos-probe-collector")
      .describe("the collector's own state (its MQTT client id)"),
    mqtt: MqttSection,
    database: DatabaseSection.prefault({}),
    ingest: IngestSection.prefault({}),
    http: HttpSection.prefault({}),
    report: ReportSection.prefault({}),
    sites: z.array(SiteSchema).optional().describe("where sites are, for the report's map"),
    sites_from: z
      .string()
      .min(1)
      .optional()
      .describe("an agent configuration whose sites: list gives the map (relative to this file)"),
  })
  .strict();

export const CollectorConfigSchema = CollectorConfigObject.superRefine((c, ctx) => {
  if (c.sites !== undefined && c.sites_from !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["sites_from"],
      message: "give either sites or sites_from, not both",
      params: { hint: "keep sites_from to share the agents' list, or sites to list them here" },
    });
  }
});

export type CollectorConfigParsed = z.output<typeof CollectorConfigSchema>;

/** The loaded configuration: defaults filled, sites resolved for the report. */
export interface CollectorConfig extends Omit<CollectorConfigParsed, "sites" | "sites_from" | "mqtt"> {
  mqtt: Omit<CollectorConfigParsed["mqtt"], "connections"> & {
    client_id: string;
    /** The file named client_id; otherwise the role makes one and keeps it in data_dir (client-id.ts). */
    client_id_explicit: boolean;
    connections: number;
  };
  /** Map positions for the report (from `sites` or `sites_from`); empty when neither is given. */
  sites: SiteInfo[];
  /** The tests `sites_from`'s mesh schedules between sites: the coverage model expects each of them. */
  expected: ExpectedTest[];
}

/** Parse collector.yaml from bytes. `sites_from` is read relative to `file`. Throws ConfigError. */
export function parseCollectorConfig(
  bytes: string | Buffer,
  file: string,
  env: Env = process.env,
): CollectorConfig {
  const parsed = parseYamlConfig(CollectorConfigSchema, bytes, file, env);
  const { sites, sites_from, mqtt, ...rest } = parsed;
  const mesh = sites_from ? readAgentMesh(resolve(dirname(file), sites_from)) : undefined;
  const siteList = mesh ? mesh.sites : (sites ?? []);
  return {
    ...rest,
    mqtt: {
      ...mqtt,
      client_id: mqtt.client_id ?? defaultClientId(),
      client_id_explicit: mqtt.client_id !== undefined,
      // MQTT 3.1.1 has no shared subscriptions: a second connection would receive every result again.
      connections: mqtt.connections ?? (mqtt.protocol_version === 5 ? DEFAULT_CONNECTIONS_MQTT5 : 1),
    },
    sites: siteList.map((s) => ({
      site: s.id,
      operator: s.operator,
      province: s.province,
      latitude: s.latitude,
      longitude: s.longitude,
      ...(s.device_key ? { device_key: s.device_key } : {}),
    })),
    expected: mesh ? expectedTests(mesh.sites, mesh.tests) : [],
  };
}

export function loadCollectorConfig(path: string, env: Env = process.env): CollectorConfig {
  return parseCollectorConfig(readConfigBytes(path), path, env);
}

export function defaultClientId(): string {
  // Client ids travel in CONNECT; keep them to a conservative alphabet.
  return `qosprobe-collector-${hostname().replace(/[^A-Za-z0-9-]/g, "-")}`;
}

function readConfigBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const AgentSites = z.looseObject({
  sites: z.array(SiteSchema).min(1),
  tests: z.array(TestSchema).default([]),
});

/**
 * Only the `sites:` and `tests:` lists of an agent configuration (the mesh): the rest of that file
 * (its `agent.site`, often `${QOSPROBE_SITE}`, its secrets) is the agent's business and is not
 * expanded or checked. Tests give the coverage model what to expect.
 */
function readAgentMesh(path: string): z.output<typeof AgentSites> {
  const text = readConfigBytes(path).toString("utf8");
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError([
      { file: path, path: "", message: `YAML: ${doc.errors[0]?.message.split("\n")[0] ?? "syntax error"}` },
    ]);
  }
  const result = AgentSites.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!result.success) {
    throw new ConfigError(fromZodIssues(result.error.issues, { file: path, doc, lines, schema: AgentSites }));
  }
  return result.data;
}
