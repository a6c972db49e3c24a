import * as z from "zod";
import type { Decision, LiveConfig } from "./control.js";

/**
 * The agent's answer on `{root}/{operator}/{province}/{site}/config/ack` (QoS 1, not retained): one per
 * decision, so the regulator sees who took which version and why an envelope was refused.
 */
export const CONFIG_ACK_SCHEMA_ID = "qosprobe.config-ack/1";

export const ConfigAck = z
  .object({
    schema: z.literal(CONFIG_ACK_SCHEMA_ID),
    site: z.string().min(1),
    operator: z.string().min(1),
    province: z.string().min(1),
    at: z.iso.datetime({ offset: false }),
    decision: z.enum(["accepted", "rejected"]),
    /** The envelope's version and YAML hash; null when the envelope could not be read at all. */
    config_version: z.number().int().nullable(),
    config_hash: z.string().nullable(),
    /** RFC 7638 thumbprint of the signing key, as the envelope named it. */
    key_id: z.string().nullable(),
    /** Why it was rejected: "unknown-key: …", "bad-signature: …", "rollback: …", "invalid: …". */
    reason: z.string().nullable(),
    /** Where the envelope came from: mqtt:<topic>, https:<url>. */
    source: z.string(),
    /** What runs after this decision (null: the local bootstrap file). */
    live_version: z.number().int().nullable(),
  })
  .strict();
export type ConfigAck = z.infer<typeof ConfigAck>;

export function makeAck(
  id: { site: string; operator: string; province: string },
  d: Decision,
  kid: string | null,
  live: LiveConfig | null,
): ConfigAck {
  return {
    schema: CONFIG_ACK_SCHEMA_ID,
    site: id.site,
    operator: id.operator,
    province: id.province,
    at: d.at,
    decision: d.decision,
    config_version: d.config_version,
    config_hash: d.config_hash,
    key_id: kid,
    reason: d.reason,
    source: d.source,
    live_version: live?.config_version ?? null,
  };
}
