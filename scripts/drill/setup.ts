import { randomBytes } from "node:crypto";
import { readdir, readFile, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { stringify } from "yaml";
import type { StoredResult } from "./compare.js";

/**
 * What the delivery drill deploys: three sites far enough apart for the spec 3.2.2 pair rule (Beijing,
 * Guangzhou, Ürümqi: 1889, 2411 and 3284 km apart), each with its own STAMP session-reflector on loopback,
 * every site measuring the two others; and the configuration files an operator would write for them.
 */

export interface DrillSite {
  id: string;
  province: string;
  city: string;
  /** Loopback port of this site's session-reflector (the agent's own reflector listens there). */
  port: number;
}

export const OPERATOR = "unicom";

export function drillSites(ports: readonly number[]): DrillSite[] {
  const base = [
    { id: "bj-unicom-01", province: "110000", city: "Beijing" },
    { id: "gz-unicom-01", province: "440000", city: "Guangzhou" },
    { id: "xj-unicom-01", province: "650000", city: "Ürümqi" },
  ];
  return base.map((site, i) => ({ ...site, port: ports[i] ?? 0 }));
}

export interface AgentYamlOptions {
  sites: readonly DrillSite[];
  brokerUrl: string;
  dataDir: string;
  /** Continuous STAMP interval (s) of every test; 0 gives no tests at all (the drain). */
  intervalS: number;
}

/**
 * One file for the whole mesh, the site chosen by QOSPROBE_SITE as in production. Short intervals with
 * 2 packets each and a 500 ms loss timeout keep results flowing fast on loopback.
 */
export function agentYaml(o: AgentYamlOptions): string {
  const tests =
    o.intervalS === 0
      ? []
      : o.sites.flatMap((from) =>
          o.sites
            .filter((to) => to.id !== from.id)
            .map((to) => ({
              id: `${from.id.slice(0, 2)}-${to.id.slice(0, 2)}-stamp`,
              method: "stamp",
              from: from.id,
              to: to.id,
              rate_pps: 2,
              loss_timeout_ms: 500,
              continuous: { interval_s: o.intervalS },
            })),
        );
  const config = {
    version: 1,
    config_version: o.intervalS === 0 ? "drill-drain" : "drill",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${ENV} syntax, expanded by the agent
    agent: { site: "${QOSPROBE_SITE}", data_dir: o.dataDir, log_level: "info" },
    sites: o.sites.map((s) => ({
      id: s.id,
      operator: OPERATOR,
      province: s.province,
      city: s.city,
      reflector: { host: "127.0.0.1", port: s.port },
    })),
    reflector: { enabled: true },
    tests,
    mqtt: { url: o.brokerUrl, keepalive_s: 10 },
    heartbeat: { interval_s: 5 },
  };
  return `# qos-probe delivery drill: the agents' mesh (written by scripts/drill)\n${stringify(config)}`;
}

/** A collector with one connection in the share group; several of them share one database. */
export function collectorYaml(o: { brokerUrl: string; clientId: string; databaseUrl: string }): string {
  const config = {
    version: 1,
    mqtt: {
      url: o.brokerUrl,
      client_id: o.clientId,
      share_group: "collectors",
      connections: 1,
      session_expiry_s: 3600,
      keepalive_s: 10,
    },
    database: { url: o.databaseUrl },
    http: { enabled: false },
  };
  return `# qos-probe delivery drill: collector ${o.clientId} (written by scripts/drill)\n${stringify(config)}`;
}

/** A fresh PostgreSQL database for one drill run, dropped (FORCE) at the end whatever happened. */
export class DrillDatabase {
  readonly name = `qosprobe_drill_${randomBytes(5).toString("hex")}`;
  private readonly admin: pg.Client;
  private created = false;
  private reader: pg.Client | null = null;

  constructor(private readonly adminUrl: string) {
    this.admin = new pg.Client({ connectionString: adminUrl });
  }

  get url(): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${this.name}`;
    return url.toString();
  }

  async create(): Promise<void> {
    await this.admin.connect();
    await this.admin.query(`CREATE DATABASE ${this.name}`);
    this.created = true;
  }

  /** Every stored result's site, seq and id; empty until the collector has created the table. */
  async stored(): Promise<StoredResult[]> {
    if (!this.reader) {
      this.reader = new pg.Client({ connectionString: this.url });
      await this.reader.connect();
    }
    const exists = await this.reader.query("SELECT to_regclass('results') IS NOT NULL AS ok");
    if (!exists.rows[0]?.ok) return [];
    const rows = await this.reader.query<{ site: string; seq: string; id: string }>(
      "SELECT agent_site AS site, seq, id::text AS id FROM results",
    );
    return rows.rows.map((r) => ({ site: r.site, seq: Number(r.seq), id: r.id }));
  }

  async rejects(): Promise<number> {
    if (!this.reader) return 0;
    const exists = await this.reader.query("SELECT to_regclass('rejects') IS NOT NULL AS ok");
    if (!exists.rows[0]?.ok) return 0;
    const r = await this.reader.query<{ n: string }>("SELECT count(*) AS n FROM rejects");
    return Number(r.rows[0]?.n ?? 0);
  }

  async drop(): Promise<void> {
    await this.reader?.end().catch(() => undefined);
    this.reader = null;
    if (this.created) {
      await this.admin.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
      this.created = false;
    }
    await this.admin.end().catch(() => undefined);
  }
}

/**
 * Cut the last `bytes` of the agent's newest outbox segment: the torn tail a crash in the middle of a
 * write leaves. Returns the segment and its size before, or null when the outbox has no segment.
 */
export async function tearOutboxTail(
  outboxDir: string,
  bytes: number,
): Promise<{ file: string; size: number } | null> {
  const segments = (await readdir(outboxDir)).filter((n) => n.endsWith(".seg")).sort();
  const newest = segments.at(-1);
  if (!newest) return null;
  const file = join(outboxDir, newest);
  const { size } = await stat(file);
  if (size <= bytes) return null;
  await truncate(file, size - bytes);
  return { file, size };
}

/** The outbox depth of the agent's last heartbeat (status.json), or null when there is none yet. */
export async function statusDepth(agentDataDir: string): Promise<number | null> {
  try {
    const status = JSON.parse(await readFile(join(agentDataDir, "status.json"), "utf8")) as {
      outbox?: { depth?: number };
    };
    return typeof status.outbox?.depth === "number" ? status.outbox.depth : null;
  } catch {
    return null;
  }
}
