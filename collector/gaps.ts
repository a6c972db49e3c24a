import type { ResultStore, SeqIsland, SiteStatusRow } from "./store/store.js";

/**
 * Gaps the collector can see (issue 7): per agent, which seqs are not in the store. Seqs are per agent,
 * from 1, never reused, so a missing seq below the highest stored one is a result that was produced
 * and is not stored: still in the agent's outbox (depth > 0), or lost (the heartbeat's `dropped` says
 * how many the agent itself gave up: a bound, or a disk that refused the append).
 */

export interface AgentGaps {
  operator: string;
  province: string;
  site: string;
  /** Distinct seqs stored. */
  stored: number;
  /** Highest seq stored (0: none). */
  highest: number;
  /** Seqs below `highest` not stored, as inclusive ranges. */
  missing_ranges: SeqIsland[];
  missing: number;
  /** From the last heartbeat: results the agent dropped, and what still waits in its outbox. */
  heartbeat_dropped: number | null;
  heartbeat_depth: number | null;
  /** The agent's next seq per its last heartbeat: produced so far is next_seq − 1 (null: older agent). */
  heartbeat_next_seq: number | null;
  last_heartbeat: Date | null;
}

/** Missing ranges between 1 and the highest stored seq, from the stored islands (ascending). */
export function missingRanges(islands: readonly SeqIsland[]): SeqIsland[] {
  const out: SeqIsland[] = [];
  let next = 1;
  for (const [first, last] of islands) {
    if (first > next) out.push([next, first - 1]);
    next = Math.max(next, last + 1);
  }
  return out;
}

export function agentGaps(status: SiteStatusRow, islands: readonly SeqIsland[]): AgentGaps {
  const missing = missingRanges(islands);
  const payload = (status.payload ?? {}) as { outbox?: { next_seq?: unknown } };
  const nextSeq = payload.outbox?.next_seq;
  return {
    operator: status.operator,
    province: status.province,
    site: status.site,
    stored: islands.reduce((n, [a, b]) => n + (b - a + 1), 0),
    highest: islands.at(-1)?.[1] ?? 0,
    missing_ranges: missing,
    missing: missing.reduce((n, [a, b]) => n + (b - a + 1), 0),
    heartbeat_dropped: status.dropped,
    heartbeat_depth: status.outbox_depth,
    heartbeat_next_seq: typeof nextSeq === "number" ? nextSeq : null,
    last_heartbeat: status.last_heartbeat,
  };
}

/**
 * Every agent with a heartbeat (site_status), its gaps from the store: one small seq-islands query per
 * agent, no result payloads. The one query path for `qos-probe gaps` and the report's "Delivery gaps".
 */
export async function gapsFromStore(
  store: Pick<ResultStore, "listSites" | "seqIslands">,
  filter: { site?: string } = {},
): Promise<AgentGaps[]> {
  const rows: AgentGaps[] = [];
  for (const status of await store.listSites()) {
    if (filter.site && status.site !== filter.site) continue;
    rows.push(agentGaps(status, await store.seqIslands({ operator: status.operator, site: status.site })));
  }
  return rows;
}

/**
 * A gap the agent's own heartbeat does not explain: nothing left in its outbox (the missing ones may
 * still be there otherwise) and fewer dropped than missing. Heartbeat fields unknown count as 0.
 */
export function unexplainedGap(r: AgentGaps): boolean {
  return r.missing > 0 && !((r.heartbeat_depth ?? 0) > 0) && (r.heartbeat_dropped ?? 0) < r.missing;
}

function ranges(list: readonly SeqIsland[], max = 6): string {
  if (list.length === 0) return "–";
  const shown = list.slice(0, max).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  return list.length > max ? `${shown.join(",")},… (${list.length} ranges)` : shown.join(",");
}

/** A fixed-width table, one row per agent, for `qos-probe gaps`. */
export function formatGaps(rows: readonly AgentGaps[]): string {
  const header = [
    "site",
    "operator",
    "stored",
    "highest",
    "missing",
    "missing seqs",
    "produced",
    "outbox",
    "dropped",
  ];
  const body = rows.map((r) => [
    r.site,
    r.operator,
    String(r.stored),
    String(r.highest),
    String(r.missing),
    ranges(r.missing_ranges),
    r.heartbeat_next_seq === null ? "?" : String(r.heartbeat_next_seq - 1),
    r.heartbeat_depth === null ? "?" : String(r.heartbeat_depth),
    r.heartbeat_dropped === null ? "?" : String(r.heartbeat_dropped),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c >= 2 && c !== 5 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join("  ")
      .trimEnd();
  if (rows.length === 0) return "no agents in site_status yet (agents appear with their first heartbeat)";
  return [line(header), ...body.map(line)].join("\n");
}
