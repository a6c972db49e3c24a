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
 * are listed.
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
  for (const r of records) {
    const why = keys.check(r.message);
    if (why) problems.push(`${name(r)}: ${why.replace(/^evidence: /, "")}`);
    else if (r.message.sig === undefined)
      problems.push(`${name(r)}: unsigned, and its site has no registered device key: cannot be audited`);
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
  if (problems.length > 0) {
    return {
      ok: false,
      text: `${file}: NOT verified: ${problems.length} problem(s)\n${problems.join("\n")}`,
    };
  }
  return {
    ok: true,
    text: `${file}: verified: ${records.length} results, every signature valid, every chain unbroken\n${summary.join("\n")}`,
  };
}
