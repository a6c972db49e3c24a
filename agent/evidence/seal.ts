import { createHash, type KeyObject, sign, verify } from "node:crypto";
import canonicalize from "canonicalize";

/**
 * Evidence on every result message (issue 11): `prev`, the digest of this agent's previous result, and
 * `sig`, an Ed25519 signature (RFC 8032) over the message's RFC 8785 canonical JSON without `sig`.
 * Canonicalization is the `canonicalize` package (by RFC 8785's author) so a third party can recompute
 * the bytes with any JCS implementation; hand-rolled key sorting would get numbers wrong.
 *
 *   sig  = base64url(Ed25519(key, JCS(message − sig)))
 *   hash = base64url(SHA-256(JCS(message)))           (the whole message, sig included)
 *   next.prev = hash;  the first result of an agent carries prev = null
 *
 * A deleted result shows as a `prev` that matches no stored predecessor (with a seq gap); an altered
 * one fails its signature, and its successor's `prev` no longer matches it.
 */

export type Sealed = {
  prev: string | null;
  sig: string;
};

function jcs(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new Error("message cannot be canonicalized");
  return Buffer.from(text, "utf8");
}

/** The bytes the signature covers: the message with `prev` and without `sig`. */
export function signedBytes(message: Record<string, unknown>): Buffer {
  const { sig: _sig, ...rest } = message;
  return jcs(rest);
}

export function seal<T extends Record<string, unknown>>(
  message: T,
  prev: string | null,
  key: KeyObject,
): T & Sealed {
  const body = { ...message, prev };
  const sig = sign(null, signedBytes(body), key).toString("base64url");
  return { ...body, sig };
}

/** The chain digest of a sealed message (sig included). */
export function messageHash(message: Record<string, unknown>): string {
  return digestOf(jcs(message));
}

/**
 * What an agent publishes for a sealed message: its RFC 8785 bytes, the very bytes its chain digest is
 * taken over (`digest` = messageHash). A collector can then hash what it received without
 * canonicalizing it again (collector/evidence.ts checkBatch); any JSON reader reads it as before.
 */
export function sealedPayload(message: Record<string, unknown>): { bytes: Buffer; digest: string } {
  const bytes = jcs(message);
  return { bytes, digest: digestOf(bytes) };
}

function digestOf(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("base64url");
}

/** true when `sig` verifies with `publicKey` over the message's canonical bytes. */
export function verifySeal(message: Record<string, unknown>, publicKey: KeyObject): boolean {
  const sig = message.sig;
  if (typeof sig !== "string" || !/^[A-Za-z0-9_-]{86}$/.test(sig)) return false;
  try {
    return verify(null, signedBytes(message), publicKey, Buffer.from(sig, "base64url"));
  } catch {
    return false;
  }
}
