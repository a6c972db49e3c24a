import { createHash, type KeyObject, verify } from "node:crypto";
import canonicalize from "canonicalize";
import { parsePublicKey } from "../agent/control/keys.js";
import { messageHash, signedBytes } from "../agent/evidence/seal.js";
import type { ResultMessage } from "../agent/publish/message.js";
import { receivedText } from "./validate.js";

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

  /**
   * `check` for a batch, most signatures replaced by the hash chain (issue 9). Per message, in order:
   * null (may be stored) or the reason `check` would give.
   *
   * Why a chain link authenticates (agent/evidence/seal.ts): sig(N) = Ed25519(key, JCS(N − sig)) and
   * N.prev is inside the signed bytes; hash(N−1) = SHA-256(JCS(N−1), sig included). So when N's
   * signature verifies against the registered key and N.prev equals the digest of the N−1 we received,
   * the key holder chained exactly those bytes of N−1 (SHA-256 second-preimage resistance): N−1 is
   * authenticated against the same key without verifying its own signature, and by induction so is
   * every earlier result of an unbroken run. Each agent's results are sorted by seq and cut into runs
   * of consecutive seqs whose links hold; the last of each run is verified, and the run counts as
   * checked (`signatureChecked`) only when it verifies. When it does not, every result of the run is
   * verified on its own, so a forged or altered result is rejected with `check`'s reason and its
   * genuine neighbours are still stored. A result whose successor is not in the batch is the last of
   * its run: verified on its own, as `check` does. A seq present twice is verified on its own.
   */
  checkBatch(messages: readonly ResultMessage[]): Array<string | null> {
    const out: Array<string | null> = new Array(messages.length).fill(null);
    // Per registered key holder: the indexes of its signed messages (everything else: `check`).
    const groups = new Map<string, number[]>();
    messages.forEach((m, i) => {
      const key = this.keyFor(m.agent.operator, m.agent.site);
      if (!key || typeof m.sig !== "string") {
        out[i] = this.check(m);
        return;
      }
      const g = `${m.agent.operator}\u0000${m.agent.site}`;
      const list = groups.get(g);
      if (list) list.push(i);
      else groups.set(g, [i]);
    });
    for (const list of groups.values()) {
      const first = messages[list[0] as number] as ResultMessage;
      const key = this.keyFor(first.agent.operator, first.agent.site) as KeyObject;
      const seqCount = new Map<number, number>();
      for (const i of list) {
        const seq = (messages[i] as ResultMessage).seq;
        seqCount.set(seq, (seqCount.get(seq) ?? 0) + 1);
      }
      const alone = (i: number) => {
        out[i] = this.check(messages[i] as ResultMessage);
      };
      const chained: number[] = [];
      for (const i of list) {
        if (seqCount.get((messages[i] as ResultMessage).seq) !== 1) alone(i);
        else chained.push(i);
      }
      chained.sort((a, b) => (messages[a] as ResultMessage).seq - (messages[b] as ResultMessage).seq);
      let run: number[] = [];
      /** Every link of the run held on the received bytes (the agent published RFC 8785 bytes). */
      let rawRun = true;
      const closeRun = () => {
        if (run.length === 0) return;
        const last = messages[run[run.length - 1] as number] as ResultMessage;
        const verified = run.length > 1 && ((rawRun && verifyReceived(last, key)) || verifySealed(last, key));
        if (verified) {
          for (const i of run) checked.add(messages[i] as ResultMessage);
        } else {
          for (const i of run) alone(i);
        }
        run = [];
        rawRun = true;
      };
      for (const i of chained) {
        const m = messages[i] as ResultMessage;
        const before = run.length > 0 ? (messages[run[run.length - 1] as number] as ResultMessage) : null;
        // The link before → m holds: consecutive seqs and m.prev is the digest of what we received:
        // of the bytes as received (an agent publishes RFC 8785 bytes: seal.ts sealedPayload), else of
        // their RFC 8785 form (a message re-serialized on the way).
        let linked = before !== null && m.seq === before.seq + 1 && typeof m.prev === "string";
        if (linked && before !== null) {
          const raw = receivedDigest(before);
          if (raw !== undefined && m.prev === raw) {
            // N.prev is the agent's digest of N−1's RFC 8785 bytes and equals the SHA-256 of the bytes
            // received: those bytes are the RFC 8785 form, so this is N−1's chain digest.
            digests.set(before, raw);
          } else {
            linked = m.prev === sealedDigest(before);
            // Holds on the RFC 8785 form only: the bytes were re-serialized on the way.
            if (linked) rawRun = false;
          }
        }
        if (!linked) closeRun();
        run.push(i);
      }
      closeRun();
    }
    return out;
  }
}

/**
 * Messages authenticated against a registered key (issue 11): their own signature verified
 * (DeviceKeys.check), or covered by the hash chain up to a successor whose signature verified
 * (DeviceKeys.checkBatch, issue 9; the construction is in its docstring).
 */
const checked = new WeakSet<object>();

/**
 * Whether this very message object was authenticated against its site's registered device key: its
 * signature verified by DeviceKeys.check, or (DeviceKeys.checkBatch) its bytes fixed by the hash chain
 * of a successor in the same batch whose signature verified, which authenticates it just as well
 * (SHA-256 of its RFC 8785 bytes, sig included, is inside the successor's signed bytes). False for a
 * result stored because its site has no key, or unsigned: the store counts these apart
 * (evidence_chains.checked, migration 006), so "signed" never reads as "checked".
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
 * The RFC 8785 text of a sealed message and its chain digest (seal.ts messageHash), computed once per
 * message object and kept for chainHash; null when it cannot be canonicalized (a lone surrogate:
 * RFC 8785 has no bytes for it, so such a message was not sealed).
 */
function canonical(message: ResultMessage): { full: string; hash: string } | null {
  const known = forms.get(message);
  if (known !== undefined) return known;
  let full: string | undefined;
  try {
    full = canonicalize(message);
  } catch {
    full = undefined;
  }
  const form =
    full === undefined ? null : { full, hash: createHash("sha256").update(full, "utf8").digest("base64url") };
  forms.set(message, form);
  if (form) digests.set(message, form.hash);
  return form;
}

const forms = new WeakMap<object, { full: string; hash: string } | null>();

/** The chain digest of what was received (canonical() above), undefined when it has none. */
function sealedDigest(message: ResultMessage): string | undefined {
  return canonical(message)?.hash;
}

/** SHA-256 (base64url) of the text a message was validated from, once per message; undefined when none. */
function receivedDigest(message: ResultMessage): string | undefined {
  let hash = received.get(message);
  if (hash === undefined) {
    const text = receivedText(message);
    if (text === undefined) return undefined;
    hash = createHash("sha256").update(text, "utf8").digest("base64url");
    received.set(message, hash);
  }
  return hash;
}

const received = new WeakMap<object, string>();

/**
 * The signature checked over the bytes received without their `,"sig":"…"` member: when the agent
 * published RFC 8785 bytes (seal.ts sealedPayload) these are exactly the signed bytes, with no
 * canonicalization here. False when they are not (the caller then tries verifySealed): a false
 * negative only costs time, a true result means the key holder signed exactly those bytes.
 */
function verifyReceived(message: ResultMessage, key: KeyObject): boolean {
  const sig = message.sig;
  const text = receivedText(message);
  if (text === undefined || typeof sig !== "string" || !/^[A-Za-z0-9_-]{86}$/.test(sig)) return false;
  const member = `,"sig":"${sig}"`;
  const at = text.indexOf(member);
  if (at <= 0 || text.lastIndexOf(member) !== at) return false;
  try {
    const signed = Buffer.from(text.slice(0, at) + text.slice(at + member.length), "utf8");
    return verify(null, signed, key, Buffer.from(sig, "base64url"));
  } catch {
    return false;
  }
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
  const form = canonical(message);
  if (form === null) return false;
  const { full } = form;
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
