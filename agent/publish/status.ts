import { z } from "zod";

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
  config_version: z.string().nullable().optional(),
  config_hash: z.string().optional(),
  /** ISO 8601: when the configuration named by config_hash became live (start or SIGHUP). */
  config_loaded_at: z.string().optional(),
  outbox: z.object({ depth: z.number(), dropped: z.number(), bytes: z.number() }).optional(),
  clock: z
    .object({ synced: z.boolean(), source: z.string(), max_error_ms: z.number().optional() })
    .optional(),
  host: z.unknown().optional(),
  reflector: z.unknown().optional(),
  tests: z.number().optional(),
  uptime_s: z.number().optional(),
  mqtt: z.object({ published: z.number(), acked: z.number(), failed: z.number() }).optional(),
});
export type StatusMessage = z.infer<typeof StatusMessage>;
