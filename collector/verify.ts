import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { QosProbeError } from "../agent/errors.js";
import { ResultMessage } from "../agent/publish/message.js";
import { type ChainBreak, DeviceKeys, type RegisteredSite, walkChains } from "./evidence.js";

/**
 * `qos-probe verify EXPORT --keys MESH`: a third party's offline audit of a results export (JSON Lines,
 * one result message per line, as `qos-probe report --format results` writes; or a JSON array). Each
 * record's signature is checked against the device key registered for its site in the mesh, and each
 * agent's chain is walked. The first thing wrong names the record (line, site, seq, id); all problems
 * are listed. A result whose site has no registered device key (signed or not) cannot be checked: the
 * export is then NOT verified (ok false), and the sites to register are named with their counts.
 */

export interface VerifyOutput {
  ok: boolean;
  text: string;
}

/** The device keys registered in a mesh (or collector) file: `sites[].device_key`. */
export async function readRegisteredKeys(path: string): Promise<DeviceKeys> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${path}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw new QosProbeError("CONFIG_INVALID", `${path}: YAML: ${doc.errors[0]?.message.split("\n")[0]}`);
  const sites = (doc.toJS({ maxAliasCount: 100 }) as { sites?: unknown })?.sites;
  if (!Array.isArray(sites))
    throw new QosProbeError("CONFIG_INVALID", `${path}: no sites: list`, {
      hint: "give the mesh file whose sites[].device_key registers the agents' keys",
    });
  const keys = new DeviceKeys(
    sites.map((s: { id?: string; operator?: string; device_key?: RegisteredSite["device_key"] }) => ({
      site: String(s.id),
      ...(s.operator ? { operator: String(s.operator) } : {}),
      ...(s.device_key ? { device_key: s.device_key } : {}),
    })),
  );
  if (keys.size === 0)
    throw new QosProbeError("CONFIG_INVALID", `${path}: no site has a device_key`, {
      hint: "register each agent's key (its heartbeat's device_key) as sites[].device_key",
    });
  return keys;
}

interface Numbered {
  line: number;
  message: ResultMessage;
}

/** How far a pretty-printed value is looked for (a result message pretty-printed is ~80 lines). */
const MAX_SPAN_LINES = 500;

/** The last line of a JSON value that starts on line `start` and spans several lines, if it ends soon. */
function multiLineValueEnd(lines: readonly string[], start: number): number | undefined {
  let text = "";
  for (let i = start; i < lines.length && i < start + MAX_SPAN_LINES; i++) {
    text += `${lines[i]}\n`;
    try {
      JSON.parse(text);
      return i > start ? i : undefined;
    } catch {
      // not complete yet
    }
  }
  return undefined;
}

/** What verify reads, for the one error a file of another shape gets. */
function expectedFormat(file: string): string {
  return (
    "verify reads one result message per line (JSON Lines), as qos-probe report --format results writes, " +
    `or one JSON array (jq -c . ${file} turns pretty-printed results into JSON Lines)`
  );
}

/**
 * The records of an export: JSON Lines (one result message per line), one JSON array, or one JSON
 * object (a single result, pretty-printed or not). A file of pretty-printed values one after another
 * (`jq .` output) is not read line by line (every line would be "not JSON"): `format` says once what it is.
 */
function parseExport(
  text: string,
  file: string,
): { records: Numbered[]; problems: string[]; format?: string } {
  const problems: string[] = [];
  const records: Numbered[] = [];
  const trimmed = text.trim();
  const items: { line: number; value: unknown }[] = [];
  let whole: unknown;
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    try {
      whole = JSON.parse(trimmed);
    } catch (err) {
      if (trimmed.startsWith("["))
        return {
          records,
          problems,
          format: `not a JSON array (${(err as Error).message}); ${expectedFormat(file)}`,
        };
    }
  }
  if (Array.isArray(whole)) {
    for (const [i, value] of whole.entries()) items.push({ line: i + 1, value });
  } else if (whole !== undefined && text.trimEnd().includes("\n")) {
    items.push({ line: 1, value: whole }); // one pretty-printed document: one record
  } else {
    const lines = text.split("\n");
    for (const [i, raw] of lines.entries()) {
      if (raw.trim() === "") continue;
      try {
        items.push({ line: i + 1, value: JSON.parse(raw) });
      } catch (err) {
        const end = multiLineValueEnd(lines, i);
        if (end !== undefined)
          return {
            records,
            problems,
            format: `not JSON Lines: a JSON value spans lines ${i + 1}–${end + 1}; ${expectedFormat(file)}`,
          };
        problems.push(`${file}:${i + 1}: not JSON (${(err as Error).message})`);
      }
    }
  }
  for (const { line, value } of items) {
    const parsed = ResultMessage.safeParse(value);
    if (parsed.success) records.push({ line, message: parsed.data });
    else
      problems.push(`${file}:${line}: not a qosprobe.result/1 message (${parsed.error.issues[0]?.message})`);
  }
  return { records, problems };
}

export async function verifyExport(file: string, keys: DeviceKeys): Promise<VerifyOutput> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${file}: ${(err as Error).message}`);
  }
  const { records, problems, format } = parseExport(text, file);
  if (format) return { ok: false, text: `${file}: NOT verified: ${format}` };
  // Nothing to verify is not "verified": an empty export (a wrong period, a failed write) must not pass.
  if (records.length === 0 && problems.length === 0)
    return { ok: false, text: `${file}: NOT verified: no records in ${file}` };
  const name = (r: Numbered) =>
    `${file}:${r.line}: ${r.message.agent.operator}/${r.message.agent.site} seq ${r.message.seq} id ${r.message.id}`;
  // Every keyed record takes part in the chain walk, including one whose signature fails: it is
  // present but altered, and must not read as missing (a seq gap) at the next record.
  const keyed: ResultMessage[] = [];
  const altered = new Set<string>();
  // Results whose site has no registered device key: their signature (if any) cannot be checked, so
  // they are NOT verified, and the export does not pass (exit 1): an audit must not pass what it could
  // not check (issue 11). Counted per site, named in the summary.
  const unchecked = new Map<string, number>();
  for (const r of records) {
    if (!keys.has(r.message.agent.operator, r.message.agent.site)) {
      unchecked.set(r.message.agent.site, (unchecked.get(r.message.agent.site) ?? 0) + 1);
      continue;
    }
    keyed.push(r.message);
    const why = keys.check(r.message)?.replace(/^evidence: /, "");
    if (!why) continue;
    if (r.message.sig === undefined) problems.push(`${name(r)}: ${why}`);
    else {
      altered.add(`${r.message.agent.operator}/${r.message.agent.site}#${r.message.seq}`);
      problems.push(`${name(r)}: altered: present, but ${why}`);
    }
  }
  const lineOf = new Map(records.map((r) => [r.message.id, r.line]));
  const chains = walkChains(keyed);
  for (const c of chains) {
    for (const b of c.breaks) {
      problems.push(
        `${file}:${lineOf.get(b.id)}: ${c.operator}/${c.site} seq ${b.seq} id ${b.id}: chain break: ${breakText(b, altered.has(`${c.operator}/${c.site}#${b.seq - 1}`))}`,
      );
    }
  }
  const summary = chains.map(
    (c) =>
      `  ${c.operator}/${c.site}: ${c.results} results, seq ${c.first_seq}–${c.last_seq}, head ${c.head}`,
  );
  const nUnchecked = [...unchecked.values()].reduce((a, b) => a + b, 0);
  if (nUnchecked > 0) {
    const sites = [...unchecked.keys()].sort();
    problems.push(
      `signatures not checked: no device key registered for ${sites.join(", ")} — register them in the mesh (sites[].device_key)\n` +
        sites.map((s) => `  ${s}: ${unchecked.get(s)} results not checked`).join("\n"),
    );
  }
  if (problems.length > 0) {
    const head =
      nUnchecked > 0
        ? `${file}: NOT verified: ${nUnchecked} of ${records.length} results not checked (no registered device key)${problems.length > 1 ? `, ${problems.length - 1} other problem(s)` : ""}`
        : `${file}: NOT verified: ${problems.length} problem(s)`;
    return { ok: false, text: `${head}\n${problems.join("\n")}` };
  }
  return {
    ok: true,
    text: `${file}: verified: ${records.length} results, every signature valid, every chain unbroken\n${summary.join("\n")}`,
  };
}

/**
 * A chain break for an auditor: "missing" is a seq gap (records not in the export), "altered" a record
 * present whose digest is not what the next one's prev says (its signature failed too when `beforeAltered`).
 */
function breakText(b: ChainBreak, beforeAltered: boolean): string {
  if (b.kind === "missing" && b.missing_seqs) {
    const { from, to } = b.missing_seqs;
    const seqs = to > from ? `seqs ${from}–${to} are` : `seq ${from} is`;
    return `missing: ${seqs} not in the export (a seq gap between seq ${from - 1} and ${to + 1})`;
  }
  return beforeAltered
    ? `prev of seq ${b.seq} is not the digest of seq ${b.seq - 1}, which is present but altered`
    : `prev of seq ${b.seq} is not the digest of seq ${b.seq - 1} in the export (one of the two was altered or replaced)`;
}
