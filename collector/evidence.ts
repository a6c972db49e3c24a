import { createHash, type KeyObject, verify } from "node:crypto";
import canonicalize from "canonicalize";
import { parsePublicKey } from "../agent/control/keys.js";
import { messageHash, signedBytes } from "../agent/evidence/seal.js";
import type { ResultMessage } from "../agent/publish/message.js";

/**
 * The collector's (and an auditor's) side of the result evidence: signatures checked against the
 * device keys the regulator registered per site (`sites[].device_key`), and each agent's hash chain
 * walked in seq order to find results that are missing or were altered.
 */

export interface RegisteredSite {
  site: string;
  operator?: string;
  device_key?: { kty: "OKP"; crv: "Ed25519"; x: string };
}

export class DeviceKeys {
  private readonly keys = new Map<string, KeyObject>();

  constructor(sites: readonly RegisteredSite[]) {
    for (const s of sites) {
      if (!s.device_key) continue;
      this.keys.set(keyOf(s.operator, s.site), parsePublicKey(s.device_key, `sites ${s.site}: device_key`));
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** Whether a device key is registered for the agent's site (else its signatures cannot be checked). */
  has(operator: string, site: string): boolean {
    return this.keyFor(operator, site) !== undefined;
  }

  private keyFor(operator: string, site: string): KeyObject | undefined {
    return this.keys.get(keyOf(operator, site)) ?? this.keys.get(keyOf(undefined, site));
  }

  /**
   * Null when the result may be stored: its site has no registered key (nothing to check against: NOT
   * checked, see `signatureChecked`), or its signature verifies. Otherwise the reason it goes to rejects.
   */
  check(message: ResultMessage): string | null {
    const key = this.keyFor(message.agent.operator, message.agent.site);
    if (!key) return null;
    const site = `${message.agent.operator}/${message.agent.site}`;
    if (message.sig === undefined)
      return `evidence: unsigned result (seq ${message.seq}) from ${site}, which has a registered device key`;
    if (!verifySealed(message, key))
      return `evidence: signature of seq ${message.seq} from ${site} does not verify with its registered device key (altered in transit, or signed by another key)`;
    checked.add(message);
    return null;
  }
}

/** Messages whose signature DeviceKeys.check verified against a registered key (issue 11). */
const checked = new WeakSet<object>();

/**
 * Whether this very message object's signature was verified by DeviceKeys.check against its site's
 * registered device key. False for a result stored because its site has no key, or unsigned: the store
 * counts these apart (evidence_chains.checked, migration 006), so "signed" never reads as "checked".
 */
export function signatureChecked(message: ResultMessage): boolean {
  return checked.has(message);
}

/** Chain digests already computed while checking a signature, for the store to reuse. */
const digests = new WeakMap<object, string>();

/**
 * The chain digest of a result (seal.ts messageHash: SHA-256 of its RFC 8785 bytes, sig included),
 * null when unsigned. Reuses the one computed while its signature was checked.
 */
export function chainHash(message: ResultMessage): string | null {
  if (message.sig === undefined) return null;
  let hash = digests.get(message);
  if (hash === undefined) {
    hash = messageHash(message as unknown as Record<string, unknown>);
    digests.set(message, hash);
  }
  return hash;
}

/**
 * seal.ts verifySeal with one canonicalization instead of two: the RFC 8785 bytes of the whole message
 * give the chain digest, and without their `,"sig":"…"` member they are exactly the signed bytes
 * (members are sorted and "sig" is never first; inside a JSON string every quote is escaped, so the
 * unescaped text `,"sig":"` is a member). Falls back to seal.ts's own bytes if the member is not found
 * exactly once. Canonicalizing twice was ~50 µs of the ~250 µs a signed result cost at ingest.
 */
function verifySealed(message: ResultMessage, key: KeyObject): boolean {
  const sig = message.sig;
  if (typeof sig !== "string" || !/^[A-Za-z0-9_-]{86}$/.test(sig)) return false;
  let full: string | undefined;
  try {
    // canonicalize throws on what RFC 8785 cannot encode (a lone surrogate): such a message was not sealed.
    full = canonicalize(message);
  } catch {
    return false;
  }
  if (full === undefined) return false;
  const bytes = Buffer.from(full, "utf8");
  digests.set(message, createHash("sha256").update(bytes).digest("base64url"));
  const member = `,"sig":"${sig}"`;
  const at = full.indexOf(member);
  const signed =
    at > 0 && full.lastIndexOf(member) === at
      ? Buffer.from(full.slice(0, at) + full.slice(at + member.length), "utf8")
      : signedBytes(message as unknown as Record<string, unknown>);
  try {
    return verify(null, signed, key, Buffer.from(sig, "base64url"));
  } catch {
    return false;
  }
}

function keyOf(operator: string | undefined, site: string): string {
  return `${operator ?? "*"}\u0000${site}`;
}

export interface ChainBreak {
  /** The result whose `prev` does not link to the one before it. */
  seq: number;
  id: string;
  kind: "missing" | "altered";
  /** Seqs not received between the two (kind "missing"). */
  missing_seqs?: { from: number; to: number };
  detail: string;
}

export interface AgentEvidence {
  operator: string;
  site: string;
  results: number;
  signed: number;
  /**
   * Of `signed`, how many had their signature verified at ingest against the site's registered device
   * key; the rest were stored unchecked (no key registered then). Absent when not known (a report
   * walked from payloads). Store scope only; 0 for results stored before migration 006.
   */
  checked?: number;
  /**
   * Results stored without a signature check (store scope): `no_key` = signed - checked (their site had
   * no registered device key), `unsigned` = results - signed. Absent when `checked` is.
   */
  unchecked?: { no_key: number; unsigned: number };
  first_seq: number | null;
  last_seq: number | null;
  /** Digest of the last result: a published figure can be tied to the chain up to here. */
  head: string | null;
  breaks: ChainBreak[];
  /**
   * What the counts, seqs and head cover: "period" (the results of the report's period, walked from
   * their payloads) or "store" (the agent's whole stored chain, kept at ingest; breaks are those whose
   * result falls in the period). Absent means "period".
   */
  scope?: "period" | "store";
}

/**
 * The link from the stored result before `r` (by seq) to `r`: null when it holds or cannot be judged
 * (r carries no `prev`, or the one before is unsigned). Otherwise a seq gap means results are missing,
 * consecutive seqs mean the earlier result is not the one the agent sealed. `r.prev` null (a chain that
 * starts again) after a signed result is a break too. One rule for walkChains and the store's chain
 * table (store/chains.ts).
 */
export function linkBreak(
  before: { seq: number; hash: string | null },
  r: { seq: number; id: string; prev?: string | null | undefined },
): ChainBreak | null {
  if (r.prev === undefined || before.hash === null || r.prev === before.hash) return null;
  if (r.seq > before.seq + 1) {
    const from = before.seq + 1;
    const to = r.seq - 1;
    return {
      seq: r.seq,
      id: r.id,
      kind: "missing",
      missing_seqs: { from, to },
      detail: `seq ${from}${to > from ? `–${to}` : ""} not received: the chain from seq ${before.seq} to ${r.seq} is broken`,
    };
  }
  return {
    seq: r.seq,
    id: r.id,
    kind: "altered",
    detail: `prev of seq ${r.seq} is not the digest of the stored seq ${before.seq} (altered or replaced)`,
  };
}

/**
 * Walk each agent's results in seq order. Link a → b holds when b.prev is the digest of a. Otherwise a
 * seq gap means results are missing (deleted on the way, or dropped by a full outbox at the agent), and
 * consecutive seqs mean the earlier result is not the one the agent sealed (altered or replaced). The
 * first result in the set cannot be linked to anything before the period and is not a break.
 */
export function walkChains(results: readonly ResultMessage[]): AgentEvidence[] {
  const byAgent = new Map<string, ResultMessage[]>();
  for (const r of results) {
    const k = `${r.agent.operator}/${r.agent.site}`;
    const list = byAgent.get(k) ?? [];
    list.push(r);
    byAgent.set(k, list);
  }
  const out: AgentEvidence[] = [];
  for (const list of byAgent.values()) {
    list.sort((a, b) => a.seq - b.seq);
    const first = list[0] as ResultMessage;
    const ev: AgentEvidence = {
      operator: first.agent.operator,
      site: first.agent.site,
      results: list.length,
      signed: list.filter((r) => r.sig !== undefined).length,
      first_seq: first.seq,
      last_seq: list.at(-1)?.seq ?? null,
      head: null,
      breaks: [],
    };
    let prevHash: string | null = null;
    let prev: ResultMessage | null = null;
    for (const r of list) {
      const hash = r.sig !== undefined ? messageHash(r as unknown as Record<string, unknown>) : null;
      const broken = prev ? linkBreak({ seq: prev.seq, hash: prevHash }, r) : null;
      if (broken) ev.breaks.push(broken);
      prev = r;
      prevHash = hash;
    }
    ev.head = prevHash;
    out.push(ev);
  }
  return out.sort((a, b) => a.operator.localeCompare(b.operator) || a.site.localeCompare(b.site));
}
