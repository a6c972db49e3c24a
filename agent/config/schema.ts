import { isIP } from "node:net";
import * as z from "zod";
import { ControlSchema, KeyJwk } from "../control/config-schema.js";
import { METHODS } from "../probe/prober.js";
import { ProfileId } from "../publish/message.js";
import { findProvince, provinceNames } from "./provinces.js";
import {
  checkMqtt,
  checkRoot,
  checkScheduled,
  checkTest,
  fillDerived,
  hasRootTypeError,
  parseListenHost,
  withCapital,
} from "./rules.js";
import { closest } from "./suggest.js";

/**
 * The agent configuration, version 1: one zod schema per section, every object `.strict()`, defaults
 * here, cross-field rules in `rules.ts`. One file serves every agent of a mesh; `agent.site` picks
 * which site this agent is (usually `${QOSPROBE_SITE}`).
 */

/** Ids end up in MQTT topic levels and file names: keep them to a topic- and path-safe alphabet. */
const ID_PATTERN = /^[a-z0-9-]+$/;
const Id = z
  .string()
  .regex(ID_PATTERN, { error: "must be lower-case letters, digits and hyphens ([a-z0-9-]+)" });

const Port = z.number().int().min(1).max(65535);

/** A host name or IP literal (no scheme, no port, no spaces). */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const Host = z.string().refine((h) => isIP(h) !== 0 || HOST_NAME.test(h), {
  error: "must be a host name or IP address, without scheme or port",
});

/** `host:port` or `[v6]:port`; port 0 means "any free port" (tests). */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^\s:[\]]+):(\d{1,5})$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1], port } : undefined;
}

function isAddressOrCidr(text: string): boolean {
  const [addr = "", prefix, extra] = text.split("/");
  const family = isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** Secrets are never written in the file, only referenced: a file to read or a variable to look up. */
export const FileRef = z.object({ file: z.string().min(1) }).strict();
export const EnvRef = z
  .object({
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be an environment variable name" }),
  })
  .strict();
export const SecretRef = z.union([FileRef, EnvRef], {
  error: (iss) =>
    typeof iss.input === "string"
      ? "secret written inline (value not shown); secrets are references only"
      : "expected { file: PATH } or { env: NAME }",
});
export type SecretRef = z.infer<typeof SecretRef>;

/** GB/T 2260 code, or the zh / en name (normalised to the code). YAML may read `110000` as a number. */
const ProvinceRef = z
  .union([z.string(), z.number().int()], { error: "must be a GB/T 2260 code or a province name" })
  .transform((raw, ctx) => {
    const text = String(raw);
    const prov = findProvince(text);
    if (prov) return prov.code;
    const near = closest(text, provinceNames());
    ctx.addIssue({
      code: "custom",
      message: `unknown province "${text}"`,
      params: {
        hint: near
          ? `did you mean "${near}"?`
          : 'use a GB/T 2260 code such as "440000", or a name such as 广东 / Guangdong',
      },
    });
    return z.NEVER;
  });

const SiteInput = z
  .object({
    id: Id,
    operator: Id,
    province: ProvinceRef.describe('GB/T 2260 code ("440000") or name (广东 / Guangdong)'),
    city: z.string().min(1).optional().describe("default: the province capital"),
    latitude: z
      .number()
      .min(-90)
      .max(90)
      .optional()
      .describe("WGS-84; give with longitude, or neither for the province capital"),
    longitude: z.number().min(-180).max(180).optional(),
    reflector: z
      .object({ host: Host, port: Port.default(862) })
      .strict()
      .describe("where this site's STAMP session-reflector is reached"),
    stamp_key: SecretRef.optional().describe("STAMP authenticated-mode key of this site's reflector"),
    device_key: KeyJwk.optional().describe(
      "the agent's Ed25519 device key (its heartbeat's device_key): collectors verify its result signatures",
    ),
  })
  .strict();

export const SiteSchema = SiteInput.superRefine((site, ctx) => {
  if ((site.latitude === undefined) !== (site.longitude === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [site.latitude === undefined ? "latitude" : "longitude"],
      message: "latitude and longitude go together",
      params: { hint: "give both, or neither to use the province capital's coordinates" },
    });
  }
  // The province transform already succeeded, so the capital's lookup cannot miss.
}).transform((site) => withCapital(site));
export type Site = z.infer<typeof SiteSchema>;

export const ContinuousSchema = z.object({ interval_s: z.number().int().min(1) }).strict();

export const ScheduledSchema = z
  .object({
    cron: z.string().describe("node-cron 4 expression: 5 fields, or 6 with seconds first"),
    duration_s: z.number().int().min(1).max(86_400),
    // A random start delay, so a mesh of agents does not fire in the same second.
    jitter_s: z.number().int().min(0).max(3600).default(0).describe("random start delay 0..jitter_s seconds"),
  })
  .strict()
  .superRefine(checkScheduled);

export const TestSchema = z
  .object({
    id: Id,
    method: z.enum(METHODS),
    from: Id,
    to: Id.optional().describe("the peer site id (spec 3.2.2 pair); or give target"),
    target: z
      .string()
      .min(1)
      .optional()
      .describe("stamp://host:port, icmp://host, tcp://host:port or https://…; diagnostic only"),
    profile: ProfileId.default("internet-3.2.2"),
    diagnostic: z.boolean().default(false).describe("lifts the pair rule; results are flagged diagnostic"),
    rate_pps: z.number().min(0.01).max(1000).default(1),
    packet_size_bytes: z
      .number()
      .int()
      .min(28)
      .max(65507)
      .default(128)
      .describe('the spec\'s "average packet length": the whole IP packet'),
    dscp: z.number().int().min(0).max(63).default(0),
    schedule: z.enum(["periodic", "poisson"]).default("periodic"),
    family: z
      .union([z.literal(4), z.literal(6)], { error: "family must be 4 (IPv4) or 6 (IPv6)" })
      .optional()
      .describe("address family to resolve and measure (4 or 6); default: the resolver's first address"),
    loss_timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(60_000)
      .default(3000)
      .describe("a reply later than this is lost (ITU-T Y.1540 default 3 s)"),
    continuous: ContinuousSchema.optional().describe("one result per aligned interval; or give scheduled"),
    scheduled: ScheduledSchema.optional().describe(
      "runs of duration_s on a cron schedule; or give continuous",
    ),
  })
  .strict()
  // Also on a test with schema errors, so one pass reports both phases; checkTest skips the rules
  // whose values did not parse.
  .superRefine(checkTest, { when: (payload) => !hasRootTypeError(payload.issues) });
export type TestConfig = z.infer<typeof TestSchema>;

const AgentSection = z
  .object({
    site: Id,
    data_dir: z.string().min(1).default("/var/lib/qos-probe"),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .strict();

const ReflectorAuth = z
  .object({ mode: z.enum(["open", "authenticated", "both"]).default("open"), key: SecretRef.optional() })
  .strict()
  .superRefine((auth, ctx) => {
    if (auth.mode !== "open" && auth.key === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["key"],
        message: `auth mode "${auth.mode}" needs a key`,
        params: { hint: "add key: { file: PATH } or key: { env: NAME }" },
      });
    }
  });

export const ReflectorSchema = z
  .object({
    enabled: z.boolean().default(true),
    listen: z
      .string()
      .refine((s) => parseHostPort(s) !== undefined || parseListenHost(s) !== undefined, {
        error: 'must be an IP address, "host:port" or "[v6]:port"',
        params: { hint: 'e.g. "0.0.0.0", "192.168.1.20:862" or "[::]:862"; port 1..65535' },
      })
      .optional()
      .describe(
        "local address to bind (IP, host:port or [v6]:port), apart from the advertised sites[].reflector.host " +
          "(behind NAT that address is not local); default: all addresses (0.0.0.0, or :: for an IPv6 site) " +
          "on the advertised port",
      ),
    allow: z
      .array(
        z.string().refine(isAddressOrCidr, {
          error: "must be an IP address or CIDR",
          params: { hint: 'e.g. "198.51.100.7", "198.51.100.0/24" or "2001:db8::/32"' },
        }),
      )
      .optional()
      .describe("source addresses/CIDRs allowed; default: all"),
    rate_limit_pps: z.number().positive().max(1_000_000).default(1000),
    stateful: z.boolean().default(false),
    thread: z
      .enum(["main", "worker"])
      .default("main")
      .describe(
        "where the kernel-timestamped reflector's packet loop runs: main (the agent's thread: no second " +
          "V8 isolate, ≈ 9 MiB less resident; a busy moment lengthens the residence time T3 − T2, which " +
          "senders subtract) or worker (a thread of its own: not even a GC pause between T3 and the wire, " +
          "for senders without Follow-Up Telemetry)",
      ),
    auth: ReflectorAuth.prefault({}),
  })
  .strict();

const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

/** A broker URL, shared by the agent's and the collector's configuration. */
export const MqttUrl = z.string().refine(
  (s) => {
    try {
      return MQTT_SCHEMES.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  },
  { error: "must be an mqtt://, mqtts://, ws:// or wss:// URL" },
);

/** TLS files for the broker connection, shared by the agent's and the collector's configuration. */
export const MqttTls = z
  .object({
    ca_file: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
  })
  .strict();

export const MqttSchema = z
  .object({
    url: MqttUrl,
    protocol_version: z
      .union([z.literal(5), z.literal(4)])
      .default(5)
      .describe("4 (MQTT 3.1.1) only for the embedded aedes broker, which does not speak MQTT 5"),
    client_id: z.string().min(1).max(128).optional().describe("default: qosprobe-{operator}-{site}"),
    topic_root: z
      .string()
      .regex(/^[^/#+\s]+(\/[^/#+\s]+)*$/, { error: "must be topic levels without wildcards or empty levels" })
      .default("qosprobe/v1"),
    username: SecretRef.optional(),
    password: SecretRef.optional(),
    tls: MqttTls.optional(),
    keepalive_s: z.number().int().min(0).max(65535).default(30),
  })
  .strict()
  .superRefine(checkMqtt);

const EmbeddedBrokerSchema = z
  .object({
    listen: z
      .string()
      .refine((s) => parseHostPort(s) !== undefined, { error: 'must be "host:port" or "[v6]:port"' })
      .default("127.0.0.1:1883")
      .describe("where the embedded MQTT 3.1.1 broker listens when no mqtt section is given"),
  })
  .strict()
  .describe("only used when mqtt is absent: a one-box setup");

const HeartbeatSchema = z.object({ interval_s: z.number().int().min(5).max(3600).default(60) }).strict();

const OutboxSchema = z
  .object({
    max_bytes: z
      .number()
      .int()
      .min(1 << 14)
      .optional()
      .describe("bound on the kept results; default: max_age_s of this agent's tests' results (≥ 64 MiB)"),
    max_age_s: z.number().int().min(60).default(604_800),
    receipts: z
      .enum(["required", "off"])
      .default("required")
      .describe(
        "required: a result is deleted only when the collector's store receipt covers it; off: on PUBACK (old collectors)",
      ),
    receipt_timeout_s: z
      .number()
      .int()
      .min(5)
      .max(86_400)
      .default(60)
      .describe("a PUBACKed result not receipted within this long is published again"),
  })
  .strict();

export const AgentConfigObject = z
  .object({
    version: z.literal(1, { error: "this agent reads configuration version 1" }),
    config_version: z
      // A signed mesh numbers its versions (config_version: 7); a label ("2026-11-25.1") still reads.
      .union([z.string().min(1).max(128), z.number().int().nonnegative().transform(String)])
      .optional()
      .describe("the regulator's label for this configuration, echoed in heartbeats"),
    agent: AgentSection,
    sites: z.array(SiteSchema).min(1),
    reflector: ReflectorSchema.prefault({}),
    tests: z.array(TestSchema).default([]),
    mqtt: MqttSchema.optional().describe("absent: the embedded broker on loopback"),
    embedded_broker: EmbeddedBrokerSchema.prefault({}),
    heartbeat: HeartbeatSchema.prefault({}),
    outbox: OutboxSchema.prefault({}),
    control: ControlSchema.optional().describe(
      "signed configuration from the regulator (local file only): pinned keys, MQTT and HTTPS delivery",
    ),
  })
  .strict();
export type AgentConfigParsed = z.infer<typeof AgentConfigObject>;

/**
 * The whole file. Cross-field rules run even when some sections have errors (so one pass reports
 * everything), skipping only the parts that failed to parse.
 */
export const AgentConfigSchema = AgentConfigObject.superRefine(checkRoot, {
  when: (payload) => !hasRootTypeError(payload.issues),
}).transform(fillDerived);

export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;
export type ReflectorConfig = AgentConfig["reflector"];
export type MqttSection = z.infer<typeof MqttSchema>;
export type MqttConfig = NonNullable<AgentConfig["mqtt"]>;
