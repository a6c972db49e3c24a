import { resolveSecret } from "../../agent/config/secrets.js";
import type { Logger } from "../../agent/log.js";
import { openPgliteStore } from "./pglite.js";
import { openPostgresStore } from "./postgres.js";
import type { ResultStore } from "./store.js";

export interface DatabaseSettings {
  /** postgres:// URL, or a file holding one; absent: PGlite in `data_dir`. */
  url?: string | { file: string };
  data_dir: string;
}

/** Open the store a configuration names: PostgreSQL when a URL is given, else PGlite in its directory. */
export async function openConfiguredStore(db: DatabaseSettings, log: Logger): Promise<ResultStore> {
  if (db.url === undefined) return openPgliteStore({ dataDir: db.data_dir });
  const url = typeof db.url === "string" ? db.url : resolveSecret(db.url).toString("utf8").trim();
  return openPostgresStore({ url, log });
}

/** Where the data is, for logs: never the URL itself, which may hold a password. */
export function describeDatabase(db: DatabaseSettings): string {
  if (db.url === undefined) return `PGlite ${db.data_dir}`;
  if (typeof db.url !== "string") return `PostgreSQL (url from ${db.url.file})`;
  try {
    const u = new URL(db.url);
    // node-postgres takes ?host=/dir as the server's Unix socket directory, over the URL's host.
    const socketDir = u.searchParams.get("host");
    if (socketDir?.startsWith("/")) return `PostgreSQL ${socketDir} (Unix socket)${u.pathname}`;
    return `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "PostgreSQL";
  }
}
