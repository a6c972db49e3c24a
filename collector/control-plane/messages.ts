import { createHash } from "node:crypto";
import * as z from "zod";
import { ConfigAck } from "../../agent/control/ack.js";
import type { SiteTopics } from "../../agent/publish/topics.js";

/**
 * What the collector reads from the agents' control-plane messages (issue 11, "the regulator's view"):
 *   {root}/{operator}/{province}/{site}/config/ack   `qosprobe.config-ack/1`, QoS 1, one per decision
 *   {root}/{operator}/{province}/{site}/status       `qosprobe.status/1` heartbeat: the signed config live
 *                                                    (config_signed), device key, heartbeat interval
 * Shapes are the agent's (agent/control/ack.ts, agent/control/agent-control.ts, agent/heartbeat.ts); read
 * loosely here so a newer agent that says more is still understood.
 */

/** One stored ack: the agent's decision on one envelope. Times are the agent's clock. */
export interface ConfigAckRecord {
  operator: string;
  province: string;
  site: string;
  /** sha256 (hex) of the payload bytes: a broker redelivery is the same bytes, stored once. */
  digest: string;
  /** When the agent decided (its clock). */
  at: Date;
  decision: "accepted" | "rejected";
  /** The envelope's version; null when the signature did not verify (the claim is then no fact). */
  config_version: number | null;
  /** sha256 prefix of the mesh YAML, as `qos-probe validate` prints it; null as above. */
  config_hash: string | null;
  /** RFC 7638 thumbprint of the signing key the envelope named. */
  key_id: string | null;
  /** "unknown-key: …", "bad-signature: …", "rollback: …", "invalid: …", "apply failed: …"; null when accepted. */
  reason: string | null;
  /** mqtt:<topic> or https:<url>. */
  source: string;
  /** The signed version running after the decision (null: the local bootstrap file). */
  live_version: number | null;
  payload: unknown;
}

// The agent's own schema (agent/control/ack.ts), read leniently: unknown fields from a newer agent are
// kept, and a time with any offset is accepted.
const AckBody = ConfigAck.loose().extend({ at: z.iso.datetime({ offset: true }) });

export type AckParse = { ok: true; ack: ConfigAckRecord } | { ok: false; reason: string };

/**
 * Read one config/ack delivery. Never throws: a bad payload gets a reason for the rejects table. The
 * topic is what the broker let the sender publish on, so a body naming another site is refused.
 */
export function parseConfigAck(where: SiteTopics, payload: Buffer): AckParse {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: `config ack: invalid JSON: ${(err as Error).message}` };
  }
  const parsed = AckBody.safeParse(body);
  if (!parsed.success) return { ok: false, reason: `config ack: ${z.prettifyError(parsed.error)}` };
  const a = parsed.data;
  for (const field of ["site", "operator", "province"] as const) {
    if (a[field] !== where[field]) {
      return {
        ok: false,
        reason: `config ack: topic ${field} ${where[field]} does not match ${field} ${a[field]}`,
      };
    }
  }
  return {
    ok: true,
    ack: {
      operator: a.operator,
      province: a.province,
      site: a.site,
      digest: createHash("sha256").update(payload).digest("hex"),
      at: new Date(a.at),
      decision: a.decision,
      config_version: a.config_version,
      config_hash: a.config_hash,
      key_id: a.key_id,
      reason: a.reason,
      source: a.source,
      live_version: a.live_version,
      payload: a,
    },
  };
}

/** The control-plane facts of one `online` heartbeat, per site. */
export interface HeartbeatControl {
  operator: string;
  province: string;
  site: string;
  /** The heartbeat's own time (agent clock); the collector's receive time when it has none. */
  last_heartbeat: Date;
  /** How often this agent beats (newer agents say so): staleness is judged against it. */
  heartbeat_interval_s: number | null;
  /** The live configuration's label (`config_version` of the heartbeat: the signed version, or the file's). */
  config_label: string | null;
  config_hash: string | null;
  /** The signed configuration running (heartbeat `config_signed`); all null while the bootstrap file runs. */
  signed_version: number | null;
  signed_hash: string | null;
  signed_key_id: string | null;
  signed_accepted_at: Date | null;
  signed_issued_at: Date | null;
  signed_source: string | null;
  /** Key ids the agent pins (heartbeat `regulator_keys`); null when the agent has no control section. */
  regulator_keys: string[] | null;
  /** The agent's Ed25519 public key (JWK) and its RFC 7638 thumbprint; null when it does not sign results. */
  device_key: unknown;
  device_key_id: string | null;
}

const Signed = z.looseObject({
  config_version: z.number().int(),
  hash: z.string(),
  key_id: z.string().optional(),
  issued_at: z.iso.datetime({ offset: true }).optional(),
  accepted_at: z.iso.datetime({ offset: true }).optional(),
  source: z.string().optional(),
});

const HeartbeatBody = z.looseObject({
  state: z.literal("online"),
  site: z.string(),
  operator: z.string(),
  province: z.string(),
  at: z.iso.datetime({ offset: true }).optional(),
  heartbeat_interval_s: z.number().int().positive().optional(),
  config_version: z.string().nullable().optional(),
  config_hash: z.string().optional(),
  config_signed: Signed.nullable().optional(),
  regulator_keys: z.array(z.string()).optional(),
  device_key: z.looseObject({ kty: z.string() }).optional(),
  device_key_id: z.string().optional(),
});

/**
 * The control-plane part of a status payload already accepted by collector/status.ts (so the topic and
 * identity are checked). Null for a Last Will (`offline`) or a heartbeat whose control fields are
 * malformed (the status itself is still stored; this only says nothing about configuration).
 */
export function heartbeatControl(payload: unknown, receivedAt: Date): HeartbeatControl | null {
  const parsed = HeartbeatBody.safeParse(payload);
  if (!parsed.success) return null;
  const s = parsed.data;
  const signed = s.config_signed ?? null;
  const date = (v: string | undefined) => (v === undefined ? null : new Date(v));
  return {
    operator: s.operator,
    province: s.province,
    site: s.site,
    last_heartbeat: s.at ? new Date(s.at) : receivedAt,
    heartbeat_interval_s: s.heartbeat_interval_s ?? null,
    config_label: s.config_version ?? null,
    config_hash: s.config_hash ?? null,
    signed_version: signed?.config_version ?? null,
    signed_hash: signed?.hash ?? null,
    signed_key_id: signed?.key_id ?? null,
    signed_accepted_at: date(signed?.accepted_at),
    signed_issued_at: date(signed?.issued_at),
    signed_source: signed?.source ?? null,
    regulator_keys: s.regulator_keys ?? null,
    device_key: s.device_key ?? null,
    device_key_id: s.device_key_id ?? null,
  };
}
