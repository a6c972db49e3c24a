/**
 * The delivery drill's verdict, as pure functions: what each agent produced (its own log of results,
 * one line per result with its `seq`) against what the store holds (`results` rows with agent site, seq
 * and result id). Seqs are per agent, start at 1, rise by one per result and are never reused
 * (DESIGN.md, result message), so every seq from 1 to the highest one seen was produced: a seq missing
 * from the log (the line lost when the agent was SIGKILLed) still counts, and a missing one in the store
 * is a lost result whether or not its log line survived.
 */

/** One `"msg":"result"` line of an agent's log. */
export interface LoggedResult {
  seq: number;
  /** Epoch ms of the log line (pino's `time`): which fault window the result was made in. */
  time: number;
  test?: string;
  /** Result id (UUIDv7) when the log line carries it. */
  id?: string;
}

/** One row of the store's `results` table. */
export interface StoredResult {
  site: string;
  seq: number;
  id: string;
}

/** A stretch of the drill (warm-up, one fault and its aftermath, drain), from `start` until the next one. */
export interface Phase {
  name: string;
  /** Epoch ms. */
  start: number;
}

export interface AgentVerdict {
  site: string;
  /** Seqs 1..highest seen in the log or the store (0 when the agent produced nothing). */
  highest: number;
  /** Result lines in the agent's log. */
  logged: number;
  /** Distinct seqs in the store. */
  stored: number;
  /** Produced seqs with no row in the store, ascending. */
  missing: number[];
  /** Seqs with more than one row in the store (the store dedupes by result id: so two different results). */
  duplicated: number[];
  /** Seqs logged by the agent for two or more results (a seq handed out again). */
  reused: number[];
  /** Missing seqs per phase in which they were made; "not logged" when their log line is gone. */
  missingByPhase: Map<string, number>;
}

export interface DrillVerdict {
  agents: AgentVerdict[];
  /** Every produced seq stored exactly once and no seq handed out twice. */
  ok: boolean;
}

function phaseOf(time: number, phases: readonly Phase[]): string {
  let name = phases[0]?.name ?? "drill";
  for (const phase of phases) {
    if (phase.start <= time) name = phase.name;
  }
  return name;
}

export function judgeAgent(
  site: string,
  logged: readonly LoggedResult[],
  stored: readonly StoredResult[],
  phases: readonly Phase[] = [],
): AgentVerdict {
  const rows = new Map<number, number>();
  for (const row of stored) {
    if (row.site === site) rows.set(row.seq, (rows.get(row.seq) ?? 0) + 1);
  }
  const lines = new Map<number, LoggedResult[]>();
  for (const line of logged) {
    const same = lines.get(line.seq) ?? [];
    same.push(line);
    lines.set(line.seq, same);
  }
  let highest = 0;
  for (const seq of [...rows.keys(), ...lines.keys()]) highest = Math.max(highest, seq);

  const missing: number[] = [];
  const missingByPhase = new Map<string, number>();
  for (let seq = 1; seq <= highest; seq++) {
    if (rows.has(seq)) continue;
    missing.push(seq);
    const line = lines.get(seq)?.[0];
    const phase = line ? phaseOf(line.time, phases) : "not logged";
    missingByPhase.set(phase, (missingByPhase.get(phase) ?? 0) + 1);
  }
  const duplicated = [...rows].filter(([, n]) => n > 1).map(([seq]) => seq);
  // Two lines for one result (same id) are not reuse; two results (ids, or without ids two appends) are.
  const reused = [...lines]
    .filter(([, same]) => new Set(same.map((l) => l.id ?? `${l.test ?? ""}|${l.time}`)).size > 1)
    .map(([seq]) => seq);
  return {
    site,
    highest,
    logged: logged.length,
    stored: rows.size,
    missing,
    duplicated: duplicated.sort((a, b) => a - b),
    reused: reused.sort((a, b) => a - b),
    missingByPhase,
  };
}

export function judgeDrill(
  sites: readonly string[],
  logs: ReadonlyMap<string, readonly LoggedResult[]>,
  stored: readonly StoredResult[],
  phases: readonly Phase[] = [],
): DrillVerdict {
  const agents = sites.map((site) => judgeAgent(site, logs.get(site) ?? [], stored, phases));
  const ok = agents.every(
    (a) => a.highest > 0 && a.missing.length === 0 && a.duplicated.length === 0 && a.reused.length === 0,
  );
  return { agents, ok };
}

/** `[1, 2, 3, 7, 9, 10]` → `"1–3, 7, 9–10"`; long lists are cut after `max` ranges. */
export function formatRanges(seqs: readonly number[], max = 8): string {
  if (seqs.length === 0) return "—";
  const sorted = [...seqs].sort((a, b) => a - b);
  const ranges: string[] = [];
  let first = sorted[0] as number;
  let last = first;
  const push = () => ranges.push(first === last ? `${first}` : `${first}–${last}`);
  for (const seq of sorted.slice(1)) {
    if (seq === last + 1) {
      last = seq;
      continue;
    }
    push();
    first = seq;
    last = seq;
  }
  push();
  return ranges.length > max
    ? `${ranges.slice(0, max).join(", ")}, … (${ranges.length} ranges)`
    : ranges.join(", ");
}

function pad(text: string, width: number, right = false): string {
  // Code points, not UTF-16 units, so "–" lines up.
  const length = [...text].length;
  if (length >= width) return text;
  const fill = " ".repeat(width - length);
  return right ? fill + text : text + fill;
}

/** The verdict as the table the drill prints, one row per agent, then the details of what went wrong. */
export function renderVerdict(verdict: DrillVerdict): string {
  const header = ["agent", "produced", "stored", "missing", "duplicated", "reused"];
  const rows = verdict.agents.map((a) => [
    a.site,
    a.highest === 0 ? "0" : `${a.highest} (1–${a.highest})`,
    String(a.stored),
    String(a.missing.length),
    String(a.duplicated.length),
    String(a.reused.length),
  ]);
  const total = (pick: (a: AgentVerdict) => number) =>
    String(verdict.agents.reduce((s, a) => s + pick(a), 0));
  rows.push([
    "total",
    total((a) => a.highest),
    total((a) => a.stored),
    total((a) => a.missing.length),
    total((a) => a.duplicated.length),
    total((a) => a.reused.length),
  ]);
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? "")].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0, i > 0))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
  for (const a of verdict.agents) {
    if (a.missing.length > 0) {
      const phases = [...a.missingByPhase].map(([name, n]) => `${name} ${n}`).join("; ");
      out.push(`${a.site}: missing seqs ${formatRanges(a.missing)} (made during: ${phases})`);
    }
    if (a.duplicated.length > 0) {
      out.push(`${a.site}: seqs stored more than once (different results): ${formatRanges(a.duplicated)}`);
    }
    if (a.reused.length > 0)
      out.push(`${a.site}: seqs handed out twice by the agent: ${formatRanges(a.reused)}`);
    if (a.highest === 0) out.push(`${a.site}: produced nothing`);
  }
  out.push(
    verdict.ok
      ? "PASS: every produced seq is stored exactly once"
      : "FAIL: results were lost or a seq was stored twice",
  );
  return out.join("\n");
}
