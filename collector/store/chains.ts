import { type AgentEvidence, type ChainBreak, linkBreak } from "../evidence.js";
import type { SqlClient } from "./sql.js";
import type { ResultRecord } from "./store.js";

/**
 * The evidence chain kept at ingest (issue 11, migration 004), so the store-backed report shows the
 * evidence section without reading payloads. Per agent `evidence_chains` holds counts, the seq range
 * and the head digest; `evidence_breaks` holds every link that does not hold (collector/evidence.ts
 * `linkBreak`, the rule walkChains applies), keyed by the seq of the result after the break.
 *
 * Results may arrive in any order (an outbox replayed after a reconnect, several collectors): after
 * each batch's INSERT, in the same transaction, the links into every inserted result and into the next
 * stored result above each agent's inserted range are judged again from what is stored, so a break
 * recorded while seq 5 was missing is replaced when seq 5 arrives. Each agent's chain is updated under
 * a transaction-scoped advisory lock: two collectors storing neighbouring seqs of one agent take turns,
 * and the second sees the first's rows.
 */

/**
 * Adds one batch's per-agent sums (chainSums, as arrays $1–$10) to `evidence_chains`: counts, seq range,
 * interval span and the head digest (the one at the highest seq), in key order so two collectors
 * updating the same agents never deadlock.
 */
const CHAINS_UPSERT_SQL = `
INSERT INTO evidence_chains AS c (operator, site, results, signed, checked, first_seq, last_seq, head_hash, first_at, last_at, updated_at)
SELECT operator, site, results, signed, checked, first_seq, last_seq, head_hash, first_at, last_at, now()
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[],
  $9::timestamptz[], $10::timestamptz[])
  AS u(operator, site, results, signed, checked, first_seq, last_seq, head_hash, first_at, last_at)
ORDER BY operator, site
ON CONFLICT (operator, site) DO UPDATE SET
  results = c.results + EXCLUDED.results,
  signed = c.signed + EXCLUDED.signed,
  checked = c.checked + EXCLUDED.checked,
  head_hash = CASE WHEN EXCLUDED.last_seq >= c.last_seq THEN EXCLUDED.head_hash ELSE c.head_hash END,
  first_seq = least(c.first_seq, EXCLUDED.first_seq),
  last_seq = greatest(c.last_seq, EXCLUDED.last_seq),
  first_at = least(c.first_at, EXCLUDED.first_at),
  last_at = greatest(c.last_at, EXCLUDED.last_at),
  updated_at = now()`;

/** One agent's share of a batch of inserted results, as evidence_chains adds it up. */
export interface ChainSum {
  operator: string;
  site: string;
  results: number;
  /** Results carrying a signature (a chain digest). */
  signed: number;
  /** Results whose signature ingest verified against a registered key (migration 006). */
  checked: number;
  first_seq: number;
  last_seq: number;
  /** The chain digest of the result at last_seq (null when that one is unsigned). */
  head_hash: string | null;
  /** Earliest and latest interval start, ms since the epoch (for comparing) … */
  first_ms: number;
  last_ms: number;
  /** … and as received (PostgreSQL keeps microseconds, which Date.parse drops). */
  first_at: string;
  last_at: string;
}

/**
 * Per agent, the sums of results just inserted (their chain digests, null when unsigned, and whether
 * each signature was verified), in key (operator, site) order.
 */
export function chainSums(inserted: readonly ResultRecord[]): ChainSum[] {
  const by = new Map<string, ChainSum>();
  for (const m of inserted) {
    const k = `${m.agent.operator}\u0000${m.agent.site}`;
    const hash = m.chainHash;
    const at = Date.parse(m.interval.start);
    const s = by.get(k);
    if (!s) {
      by.set(k, {
        operator: m.agent.operator,
        site: m.agent.site,
        results: 1,
        signed: hash === null ? 0 : 1,
        checked: m.checked ? 1 : 0,
        first_seq: m.seq,
        last_seq: m.seq,
        head_hash: hash,
        first_ms: at,
        last_ms: at,
        first_at: m.interval.start,
        last_at: m.interval.start,
      });
      continue;
    }
    s.results += 1;
    if (hash !== null) s.signed += 1;
    if (m.checked) s.checked += 1;
    s.first_seq = Math.min(s.first_seq, m.seq);
    if (m.seq >= s.last_seq) {
      s.last_seq = m.seq;
      s.head_hash = hash;
    }
    if (at < s.first_ms) {
      s.first_ms = at;
      s.first_at = m.interval.start;
    }
    if (at > s.last_ms) {
      s.last_ms = at;
      s.last_at = m.interval.start;
    }
  }
  return [...by.values()].sort((a, b) => cmp(a.operator, b.operator) || cmp(a.site, b.site));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Add a batch's inserted results to evidence_chains (one statement for every agent of the batch). */
export async function upsertChains(tx: SqlClient, sums: readonly ChainSum[]): Promise<void> {
  if (sums.length === 0) return;
  await tx.query(
    CHAINS_UPSERT_SQL,
    [
      sums.map((s) => s.operator),
      sums.map((s) => s.site),
      sums.map((s) => s.results),
      sums.map((s) => s.signed),
      sums.map((s) => s.checked),
      sums.map((s) => s.first_seq),
      sums.map((s) => s.last_seq),
      sums.map((s) => s.head_hash),
      sums.map((s) => s.first_at),
      sums.map((s) => s.last_at),
    ],
    { name: "qosprobe_chains_upsert" },
  );
}

/**
 * Per agent: the stored result just below its inserted range, every stored result in the range (the
 * batch's own and any stored before out of order) and the one just above, in seq order.
 */
const NEIGHBOURS_SQL = `
SELECT a.operator, a.site, r.seq, r.id::text AS id, r.chain_hash, r.chain_prev, r.interval_start
FROM jsonb_to_recordset($1::jsonb) AS a(operator text, site text, lo bigint, hi bigint)
CROSS JOIN LATERAL (
  (SELECT seq, id, chain_hash, chain_prev, interval_start FROM results
   WHERE operator = a.operator AND agent_site = a.site AND seq < a.lo ORDER BY seq DESC LIMIT 1)
  UNION ALL
  (SELECT seq, id, chain_hash, chain_prev, interval_start FROM results
   WHERE operator = a.operator AND agent_site = a.site AND seq BETWEEN a.lo AND a.hi)
  UNION ALL
  (SELECT seq, id, chain_hash, chain_prev, interval_start FROM results
   WHERE operator = a.operator AND agent_site = a.site AND seq > a.hi ORDER BY seq LIMIT 1)
) r
ORDER BY a.operator, a.site, r.seq, r.id`;

const DELETE_BREAKS_SQL = `
DELETE FROM evidence_breaks b USING jsonb_to_recordset($1::jsonb) AS t(operator text, site text, seq bigint)
WHERE b.operator = t.operator AND b.site = t.site AND b.seq = t.seq`;

const INSERT_BREAKS_SQL = `
INSERT INTO evidence_breaks (operator, site, seq, id, kind, missing_from, missing_to, detail, interval_start)
SELECT operator, site, seq, id, kind, missing_from, missing_to, detail, interval_start
FROM jsonb_to_recordset($1::jsonb) AS u(operator text, site text, seq bigint, id uuid, kind text,
  missing_from bigint, missing_to bigint, detail text, interval_start timestamptz)
ON CONFLICT (operator, site, seq) DO UPDATE SET id = EXCLUDED.id, kind = EXCLUDED.kind,
  missing_from = EXCLUDED.missing_from, missing_to = EXCLUDED.missing_to, detail = EXCLUDED.detail,
  interval_start = EXCLUDED.interval_start, detected_at = now()`;

interface StoredLink {
  operator: string;
  site: string;
  seq: string | number;
  id: string;
  chain_hash: string | null;
  chain_prev: string | null;
  interval_start: Date | string;
}

/**
 * Judge again, in the caller's transaction after the batch's INSERT, every link into a result just
 * inserted and into the next stored result above each agent's inserted range (agents whose results
 * carry `sig` or `prev` only): replace the breaks recorded at those seqs with what holds now.
 */
export async function updateChains(tx: SqlClient, inserted: readonly ResultRecord[]): Promise<void> {
  // Agents whose results carry chain links, and each one's seq range in this batch.
  const ranges = new Map<string, { operator: string; site: string; lo: number; hi: number }>();
  for (const m of inserted) {
    if (!m.linked) continue;
    const k = `${m.agent.operator}/${m.agent.site}`;
    const r = ranges.get(k);
    if (!r) ranges.set(k, { operator: m.agent.operator, site: m.agent.site, lo: m.seq, hi: m.seq });
    else {
      r.lo = Math.min(r.lo, m.seq);
      r.hi = Math.max(r.hi, m.seq);
    }
  }
  if (ranges.size === 0) return;
  const sorted = [...ranges.keys()].sort();
  // One lock per agent, always taken in the same order: no deadlock between collectors.
  await tx.query(
    "SELECT pg_advisory_xact_lock(7240603, hashtext(k)) FROM unnest($1::text[]) AS k ORDER BY k",
    [sorted],
  );
  const bounds = new Map([...ranges.values()].map((r) => [`${r.operator}\u0000${r.site}`, r]));
  const stored = await tx.query<StoredLink>(NEIGHBOURS_SQL, [JSON.stringify([...ranges.values()])]);
  const targets: { operator: string; site: string; seq: number }[] = [];
  const breaks: Array<ChainBreak & { operator: string; site: string; interval_start: string }> = [];
  let before: StoredLink | null = null;
  for (const row of stored) {
    const seq = Number(row.seq);
    const range = bounds.get(`${row.operator}\u0000${row.site}`);
    const sameAgent = before !== null && before.operator === row.operator && before.site === row.site;
    if (range && seq >= range.lo) {
      targets.push({ operator: row.operator, site: row.site, seq });
      const broken =
        sameAgent && before !== null
          ? linkBreak(
              { seq: Number(before.seq), hash: before.chain_hash },
              { seq, id: row.id, prev: row.chain_prev === null ? undefined : row.chain_prev || null },
            )
          : null;
      if (broken) {
        const at = row.interval_start instanceof Date ? row.interval_start.toISOString() : row.interval_start;
        breaks.push({ ...broken, operator: row.operator, site: row.site, interval_start: at });
      }
    }
    before = row;
  }
  await tx.query(DELETE_BREAKS_SQL, [JSON.stringify(targets)]);
  if (breaks.length > 0) {
    await tx.query(INSERT_BREAKS_SQL, [
      JSON.stringify(
        breaks.map((b) => ({
          operator: b.operator,
          site: b.site,
          seq: b.seq,
          id: b.id,
          kind: b.kind,
          missing_from: b.missing_seqs?.from ?? null,
          missing_to: b.missing_seqs?.to ?? null,
          detail: b.detail,
          interval_start: b.interval_start,
        })),
      ),
    ]);
  }
}

/**
 * Per agent whose stored results touch [from, to): its whole stored chain (counts, seqs, head) and the
 * breaks whose result starts in [from, to), in seq order. Scope "store" (AgentEvidence.scope).
 */
export async function queryEvidence(
  db: SqlClient,
  range: { from: Date; to: Date },
): Promise<AgentEvidence[]> {
  const params = [range.from.toISOString(), range.to.toISOString()];
  const chains = await db.query<{
    operator: string;
    site: string;
    results: string | number;
    signed: string | number;
    checked: string | number;
    first_seq: string | number | null;
    last_seq: string | number | null;
    head_hash: string | null;
  }>(
    `SELECT operator, site, results, signed, checked, first_seq, last_seq, head_hash FROM evidence_chains
     WHERE last_at >= $1::timestamptz AND first_at < $2::timestamptz ORDER BY operator, site`,
    params,
  );
  const breaks = await db.query<{
    operator: string;
    site: string;
    seq: string | number;
    id: string;
    kind: "missing" | "altered";
    missing_from: string | number | null;
    missing_to: string | number | null;
    detail: string;
  }>(
    `SELECT operator, site, seq, id::text AS id, kind, missing_from, missing_to, detail FROM evidence_breaks
     WHERE interval_start >= $1::timestamptz AND interval_start < $2::timestamptz ORDER BY operator, site, seq`,
    params,
  );
  const byAgent = new Map<string, ChainBreak[]>();
  for (const b of breaks) {
    const k = `${b.operator}\u0000${b.site}`;
    const list = byAgent.get(k) ?? [];
    list.push({
      seq: Number(b.seq),
      id: b.id,
      kind: b.kind,
      ...(b.missing_from !== null && b.missing_to !== null
        ? { missing_seqs: { from: Number(b.missing_from), to: Number(b.missing_to) } }
        : {}),
      detail: b.detail,
    });
    byAgent.set(k, list);
  }
  return chains.map((c) => ({
    operator: c.operator,
    site: c.site,
    results: Number(c.results),
    signed: Number(c.signed),
    checked: Number(c.checked),
    unchecked: {
      no_key: Number(c.signed) - Number(c.checked),
      unsigned: Number(c.results) - Number(c.signed),
    },
    first_seq: c.first_seq === null ? null : Number(c.first_seq),
    last_seq: c.last_seq === null ? null : Number(c.last_seq),
    head: c.head_hash,
    breaks: byAgent.get(`${c.operator}\u0000${c.site}`) ?? [],
    scope: "store" as const,
  }));
}
