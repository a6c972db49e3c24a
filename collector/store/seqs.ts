import type { SqlClient } from "./sql.js";

/**
 * Which of an agent's seqs are stored, read from the `results` table (not from any collector's memory),
 * for store receipts (collector/receipts.ts) and gap listings (`qos-probe gaps`). Seqs start at 1.
 */

export interface AgentKey {
  operator: string;
  site: string;
}

/** Inclusive `[first, last]` runs of stored seqs, ascending. */
export type SeqIsland = [number, number];

/**
 * Gaps-and-islands: consecutive seqs share `seq - row_number()`. UNION (distinct) because two results
 * could carry one seq (a reused seq, issue 7) and must not break a run. A seq the store rejected
 * (rejected_seqs: a refused interval claim, a bad signature) is decided too: it is in `rejects` with
 * its reason, and the agent must stop republishing it.
 */
const ISLANDS_SQL = `
SELECT min(seq)::bigint AS first, max(seq)::bigint AS last
FROM (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS g
      FROM (SELECT seq FROM results WHERE operator = $1 AND agent_site = $2 AND seq > $3
            UNION
            SELECT seq FROM rejected_seqs WHERE operator = $1 AND site = $2 AND seq > $3) s) t
GROUP BY g ORDER BY first`;

export async function seqIslands(db: SqlClient, agent: AgentKey, above = 0): Promise<SeqIsland[]> {
  const rows = await db.query<{ first: string | number; last: string | number }>(ISLANDS_SQL, [
    agent.operator,
    agent.site,
    above,
  ]);
  return rows.map((r) => [Number(r.first), Number(r.last)]);
}

/**
 * The agent's stored seqs as islands, reading only above its `agent_seqs` watermark and raising the
 * watermark when the first island above it joins on. Correct with several collectors: each reads
 * after its own commit, and the watermark only moves up to what is stored.
 */
export async function storedSeqs(db: SqlClient, agent: AgentKey): Promise<SeqIsland[]> {
  const rows = await db.query<{ contiguous_through: string | number }>(
    "SELECT contiguous_through FROM agent_seqs WHERE operator = $1 AND site = $2",
    [agent.operator, agent.site],
  );
  const mark = Number(rows[0]?.contiguous_through ?? 0);
  const islands = await seqIslands(db, agent, mark);
  let through = mark;
  const first = islands[0];
  if (first && first[0] <= through + 1) {
    through = first[1];
    islands.shift();
    await db.query(
      `INSERT INTO agent_seqs AS old (operator, site, contiguous_through) VALUES ($1, $2, $3)
       ON CONFLICT (operator, site) DO UPDATE
         SET contiguous_through = GREATEST(old.contiguous_through, EXCLUDED.contiguous_through),
             updated_at = now()`,
      [agent.operator, agent.site, through],
    );
  }
  return through > 0 ? [[1, through], ...islands] : islands;
}
