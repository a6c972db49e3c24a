import { type CollectorConfig, loadCollectorConfig } from "./config.js";
import { type AgentGaps, formatGaps, gapsFromStore, unexplainedGap } from "./gaps.js";
import { openForReport, storeToRead } from "./report-role.js";

export interface GapsRoleOptions {
  config?: string;
  database_url?: string;
  data_dir?: string;
  site?: string;
  json?: boolean;
}

/**
 * `qos-probe gaps`: per agent, the seqs missing from the store, next to what its last heartbeat says
 * (dropped, still in the outbox, produced so far). Returns the text to print and whether any agent has
 * a gap that its own heartbeat does not explain (exit 1 then, so a cron job can alert on it).
 */
export async function runGaps(opts: GapsRoleOptions): Promise<{ text: string; unexplained: boolean }> {
  const config: CollectorConfig | undefined = opts.config ? loadCollectorConfig(opts.config) : undefined;
  const store = await openForReport(storeToRead("gaps", opts, config), config);
  let rows: AgentGaps[];
  try {
    rows = await gapsFromStore(store, opts.site ? { site: opts.site } : {});
  } finally {
    await store.close();
  }
  // A gap is explained while the agent still holds results (they may be the missing ones) or dropped some.
  const unexplained = rows.some(unexplainedGap);
  const text = opts.json ? JSON.stringify(rows, null, 2) : formatGaps(rows);
  return { text, unexplained };
}
