import * as z from "zod";

/**
 * The retained status message on `{root}/{operator}/{province}/{site}/status`: an `online` heartbeat, or
 * `offline` from the Last Will (the broker publishes it when the agent vanishes) or a clean shutdown.
 */
export const STATUS_SCHEMA_ID = "qosprobe.status/1";

export const StatusMessage = z.looseObject({
  schema: z.literal(STATUS_SCHEMA_ID),
  state: z.enum(["online", "offline"]),
  site: z.string(),
  operator: z.string(),
  province: z.string(),
  version: z.string().optional(),
  /** "will": the broker published it for a vanished agent; "shutdown": the agent said goodbye. */
  reason: z.enum(["heartbeat", "will", "shutdown"]).optional(),
  at: z.string().optional(),
  /** The agent's heartbeat period (heartbeat.interval_s), so a collector can tell a stale heartbeat. */
  heartbeat_interval_s: z.number().optional(),
  config_version: z.string().nullable().optional(),
  config_hash: z.string().optional(),
  /** ISO 8601: when the configuration named by config_hash became live (start or SIGHUP). */
  config_loaded_at: z.string().optional(),
  outbox: z
    .looseObject({
      depth: z.number(),
      dropped: z.number(),
      bytes: z.number(),
      /** PUBACKed, not yet covered by a store receipt. */
      awaiting_receipt: z.number().optional(),
      /** Appends the disk refused (also counted in dropped). */
      append_failed: z.number().optional(),
    })
    .optional(),
  clock: z
    .object({
      synced: z.boolean(),
      synced_once: z.boolean().optional(),
      source: z.string(),
      max_error_ms: z.number().optional(),
      est_error_ms: z.number().optional(),
    })
    .optional(),
  host: z.unknown().optional(),
  reflector: z.unknown().optional(),
  tests: z.number().optional(),
  uptime_s: z.number().optional(),
  mqtt: z.looseObject({ published: z.number(), acked: z.number(), failed: z.number() }).optional(),
  /** Store receipts: "required" or "off", when the last one came, and whether they are missing. */
  receipts: z.unknown().optional(),
});
export type StatusMessage = z.infer<typeof StatusMessage>;
