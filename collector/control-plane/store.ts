import { QosProbeError } from "../../agent/errors.js";
import type { SqlClient } from "../store/sql.js";
import type { ConfigAckRecord, HeartbeatControl } from "./messages.js";

/**
 * The control plane's tables (migration config-control: `config_acks`, `site_control`), one SQL for
 * PostgreSQL and PGlite. Both writes are idempotent: an ack is keyed by the digest of its bytes, and a
 * heartbeat only replaces an older one.
 */
export interface ControlPlaneStore {
  /** Store acks; returns how many were new (the rest were redeliveries). */
  insertConfigAcks(acks: readonly ConfigAckRecord[]): Promise<number>;
  upsertSiteControl(h: HeartbeatControl): Promise<void>;
  listSiteControl(): Promise<SiteControlRow[]>;
  /** Every stored ack, oldest first per site (by the agent's `at`, then arrival). */
  listConfigAcks(filter?: { site?: string }): Promise<ConfigAckRow[]>;
}

export interface SiteControlRow extends Omit<HeartbeatControl, "device_key"> {
  device_key: unknown;
  updated_at: Date;
}

export interface ConfigAckRow extends Omit<ConfigAckRecord, "payload" | "digest"> {
  id: number;
  received_at: Date;
}

const INSERT_ACKS_SQL = `
INSERT INTO config_acks (digest, operator, province, site, at, decision, config_version, config_hash, key_id,
                         reason, source, live_version, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
                     $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::jsonb[])
ON CONFLICT (digest) DO NOTHING
RETURNING id`;

const UPSERT_SITE_SQL = `
INSERT INTO site_control AS old
  (operator, province, site, last_heartbeat, heartbeat_interval_s, config_label, config_hash, signed_version,
   signed_hash, signed_key_id, signed_accepted_at, signed_issued_at, signed_source, regulator_keys,
   device_key, device_key_id, updated_at)
VALUES ($1, $2, $3, $4::timestamptz, $5, $6, $7, $8, $9, $10, $11::timestamptz, $12::timestamptz, $13,
        $14::jsonb, $15::jsonb, $16, now())
ON CONFLICT (operator, province, site) DO UPDATE SET
  last_heartbeat = EXCLUDED.last_heartbeat,
  heartbeat_interval_s = EXCLUDED.heartbeat_interval_s,
  config_label = EXCLUDED.config_label,
  config_hash = EXCLUDED.config_hash,
  signed_version = EXCLUDED.signed_version,
  signed_hash = EXCLUDED.signed_hash,
  signed_key_id = EXCLUDED.signed_key_id,
  signed_accepted_at = EXCLUDED.signed_accepted_at,
  signed_issued_at = EXCLUDED.signed_issued_at,
  signed_source = EXCLUDED.signed_source,
  regulator_keys = EXCLUDED.regulator_keys,
  device_key = EXCLUDED.device_key,
  device_key_id = EXCLUDED.device_key_id,
  updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.last_heartbeat >= old.last_heartbeat`;

export class SqlControlPlaneStore implements ControlPlaneStore {
  private readonly db: SqlClient;
  private readonly readDb: SqlClient;

  /** `readDb`: where listings read (the store's report connection on PostgreSQL). */
  constructor(db: SqlClient, readDb: SqlClient = db) {
    this.db = db;
    this.readDb = readDb;
  }

  insertConfigAcks(acks: readonly ConfigAckRecord[]): Promise<number> {
    return guard("insert config acks", async () => {
      if (acks.length === 0) return 0;
      const col = <T>(f: (a: ConfigAckRecord) => T) => acks.map(f);
      const rows = await this.db.query<{ id: unknown }>(INSERT_ACKS_SQL, [
        col((a) => a.digest),
        col((a) => a.operator),
        col((a) => a.province),
        col((a) => a.site),
        col((a) => a.at.toISOString()),
        col((a) => a.decision),
        col((a) => a.config_version),
        col((a) => a.config_hash),
        col((a) => a.key_id),
        col((a) => a.reason),
        col((a) => a.source),
        col((a) => a.live_version),
        col((a) => JSON.stringify(a.payload)),
      ]);
      return rows.length;
    });
  }

  upsertSiteControl(h: HeartbeatControl): Promise<void> {
    return guard("upsert site control", async () => {
      const iso = (d: Date | null) => (d === null ? null : d.toISOString());
      await this.db.query(UPSERT_SITE_SQL, [
        h.operator,
        h.province,
        h.site,
        h.last_heartbeat.toISOString(),
        h.heartbeat_interval_s,
        h.config_label,
        h.config_hash,
        h.signed_version,
        h.signed_hash,
        h.signed_key_id,
        iso(h.signed_accepted_at),
        iso(h.signed_issued_at),
        h.signed_source,
        h.regulator_keys === null ? null : JSON.stringify(h.regulator_keys),
        h.device_key === null ? null : JSON.stringify(h.device_key),
        h.device_key_id,
      ]);
    });
  }

  listSiteControl(): Promise<SiteControlRow[]> {
    return guard("list site control", async () => {
      const rows = await this.readDb.query<SiteControlRow>(
        `SELECT operator, province, site, last_heartbeat, heartbeat_interval_s, config_label, config_hash,
                signed_version, signed_hash, signed_key_id, signed_accepted_at, signed_issued_at, signed_source,
                regulator_keys, device_key, device_key_id, updated_at
         FROM site_control ORDER BY operator, province, site`,
      );
      // pg returns bigint as text (PGlite as a number): one type for callers.
      return rows.map((r) => ({ ...r, signed_version: num(r.signed_version) }));
    });
  }

  listConfigAcks(filter: { site?: string } = {}): Promise<ConfigAckRow[]> {
    return guard("list config acks", async () => {
      const params: unknown[] = [];
      let where = "";
      if (filter.site !== undefined) {
        params.push(filter.site);
        where = "WHERE site = $1";
      }
      const rows = await this.readDb.query<ConfigAckRow>(
        `SELECT id, received_at, operator, province, site, at, decision, config_version, config_hash, key_id,
                reason, source, live_version
         FROM config_acks ${where} ORDER BY operator, province, site, at, id`,
        params,
      );
      return rows.map((r) => ({
        ...r,
        id: Number(r.id),
        config_version: num(r.config_version),
        live_version: num(r.live_version),
      }));
    });
  }
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QosProbeError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new QosProbeError("STORE", `store: ${operation} failed: ${detail}`, { cause: err });
  }
}
