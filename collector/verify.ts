import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { QosProbeError } from "../agent/errors.js";
import { ResultMessage } from "../agent/publish/message.js";
import { DeviceKeys, type RegisteredSite, walkChains } from "./evidence.js";

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

function parseExport(text: string, file: string): { records: Numbered[]; problems: string[] } {
  const problems: string[] = [];
  const records: Numbered[] = [];
  const trimmed = text.trimStart();
  const items: { line: number; value: unknown }[] = [];
  if (trimmed.startsWith("[")) {
    const arr = JSON.parse(trimmed) as unknown[];
    for (const [i, value] of arr.entries()) items.push({ line: i + 1, value });
  } else {
    text.split("\n").forEach((raw, i) => {
      if (raw.trim() === "") return;
      try {
        items.push({ line: i + 1, value: JSON.parse(raw) });
      } catch (err) {
        problems.push(`${file}:${i + 1}: not JSON (${(err as Error).message})`);
      }
    });
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
  const { records, problems } = parseExport(text, file);
  const name = (r: Numbered) =>
    `${file}:${r.line}: ${r.message.agent.operator}/${r.message.agent.site} seq ${r.message.seq} id ${r.message.id}`;
  const good: ResultMessage[] = [];
  // Results whose site has no registered device key: their signature (if any) cannot be checked, so
  // they are NOT verified, and the export does not pass (exit 1): an audit must not pass what it could
  // not check (issue 11). Counted per site, named in the summary.
  const unchecked = new Map<string, number>();
  for (const r of records) {
    if (!keys.has(r.message.agent.operator, r.message.agent.site)) {
      unchecked.set(r.message.agent.site, (unchecked.get(r.message.agent.site) ?? 0) + 1);
      continue;
    }
    const why = keys.check(r.message);
    if (why) problems.push(`${name(r)}: ${why.replace(/^evidence: /, "")}`);
    else good.push(r.message);
  }
  const lineOf = new Map(records.map((r) => [r.message.id, r.line]));
  const chains = walkChains(good);
  for (const c of chains) {
    for (const b of c.breaks) {
      problems.push(
        `${file}:${lineOf.get(b.id)}: ${c.operator}/${c.site} seq ${b.seq} id ${b.id}: chain break: ${b.detail}`,
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
