import { createHash, type KeyObject } from "node:crypto";
import { CompactSign, compactVerify, decodeProtectedHeader, errors } from "jose";
import * as z from "zod";
import { configHash } from "../config/load.js";
import { describePublicKey, type PublicKeyInfo } from "./keys.js";

/**
 * The regulator's signed configuration: a JWS (RFC 7515) in the compact serialization, alg EdDSA with
 * Ed25519 (RFC 8037), made and checked by jose rather than by an encoding of our own.
 *
 * Why compact and not flattened JSON: one line of ASCII that goes unchanged into a retained MQTT
 * message, an HTTPS body, a file or an e-mail; it has no unprotected header (every header byte is
 * signed) and exactly one signature, so there is nothing a relay can add that a verifier might read.
 *
 *   header  { "alg": "EdDSA", "kid": RFC 7638 thumbprint of the signing key, "typ": "qosprobe-config+jws" }
 *   payload { "schema": "qosprobe.config/1", "config_version": N, "iat": seconds, "config": YAML text }
 */

export const CONFIG_ENVELOPE_TYP = "qosprobe-config+jws";
export const CONFIG_ENVELOPE_SCHEMA = "qosprobe.config/1";
/** Larger than any sane mesh (thousands of sites fit in a few hundred KiB), small enough to refuse junk. */
export const MAX_ENVELOPE_BYTES = 4 << 20;

export const EnvelopeClaims = z
  .object({
    schema: z.literal(CONFIG_ENVELOPE_SCHEMA),
    /** Strictly increasing per mesh: the agent refuses anything not newer than what it runs. */
    config_version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** Issue time, seconds since the epoch (RFC 7519 §4.1.6 NumericDate). */
    iat: z.number().int().nonnegative(),
    /** The mesh YAML, byte for byte (UTF-8). */
    config: z.string().min(1),
  })
  .strict();
export type EnvelopeClaims = z.infer<typeof EnvelopeClaims>;

export type RejectCode = "malformed" | "unknown-key" | "bad-signature" | "bad-claims";

/** Why an envelope is not accepted: a stable code for tests and dashboards, a sentence for people. */
export class EnvelopeRejected extends Error {
  readonly code: RejectCode;
  readonly kid: string | undefined;
  constructor(code: RejectCode, message: string, kid?: string) {
    super(message);
    this.name = "EnvelopeRejected";
    this.code = code;
    this.kid = kid;
  }
}

export interface VerifiedConfig {
  config_version: number;
  /** Issue time, ms since the epoch. */
  issued_at_ms: number;
  yaml: Buffer;
  /** sha256 prefix of the YAML bytes, as `validate` prints and heartbeats echo. */
  hash: string;
  /** Key id of the pinned key that verified the signature. */
  kid: string;
  /** sha256 (hex) of the whole envelope text: tells a redelivery from a new envelope. */
  envelope_sha256: string;
}

export async function signConfig(opts: {
  yaml: Buffer;
  config_version: number;
  privateKey: KeyObject;
  issued_at_s: number;
}): Promise<string> {
  const { kid } = await describePublicKey(opts.privateKey);
  const claims: EnvelopeClaims = {
    schema: CONFIG_ENVELOPE_SCHEMA,
    config_version: opts.config_version,
    iat: opts.issued_at_s,
    config: new TextDecoder("utf-8", { fatal: true }).decode(opts.yaml),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: "EdDSA", kid, typ: CONFIG_ENVELOPE_TYP })
    .sign(opts.privateKey);
}

/**
 * Check an envelope against the pinned keys: the `kid` must name a pinned key and the signature must
 * verify with it (alg EdDSA only: no "none", no HMAC confusion), then the claims must have our shape.
 * Throws EnvelopeRejected; never returns an unverified payload.
 */
export async function verifyEnvelope(text: string, pinned: PublicKeyInfo[]): Promise<VerifiedConfig> {
  const envelope = text.trim();
  if (Buffer.byteLength(envelope) > MAX_ENVELOPE_BYTES)
    throw new EnvelopeRejected("malformed", `envelope larger than ${MAX_ENVELOPE_BYTES} bytes`);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(envelope);
  } catch (err) {
    throw new EnvelopeRejected("malformed", `not a compact JWS: ${(err as Error).message}`);
  }
  if (envelope.split(".").length !== 3)
    throw new EnvelopeRejected("malformed", "not a compact JWS (three dot-separated parts)");
  if (header.alg !== "EdDSA")
    throw new EnvelopeRejected("malformed", `alg ${JSON.stringify(header.alg)} refused: only EdDSA`);
  if (header.typ !== CONFIG_ENVELOPE_TYP)
    throw new EnvelopeRejected(
      "malformed",
      `typ ${JSON.stringify(header.typ)} is not ${CONFIG_ENVELOPE_TYP}`,
    );
  const kid = typeof header.kid === "string" ? header.kid : undefined;
  const key = pinned.find((k) => k.kid === kid);
  if (!key) {
    throw new EnvelopeRejected(
      "unknown-key",
      `signed by key ${kid ?? "(no kid)"}, which is not pinned (pinned: ${pinned.map((k) => k.kid).join(", ") || "none"})`,
      kid,
    );
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(envelope, key.key, { algorithms: ["EdDSA"] }));
  } catch (err) {
    if (err instanceof errors.JWSSignatureVerificationFailed)
      throw new EnvelopeRejected(
        "bad-signature",
        `signature does not verify with pinned key ${key.kid}`,
        kid,
      );
    throw new EnvelopeRejected("malformed", `JWS: ${(err as Error).message}`, kid);
  }
  let claims: EnvelopeClaims;
  try {
    claims = EnvelopeClaims.parse(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload)));
  } catch (err) {
    const why =
      err instanceof z.ZodError ? z.prettifyError(err).replace(/\n/g, "; ") : (err as Error).message;
    throw new EnvelopeRejected(
      "bad-claims",
      `signed payload is not a qosprobe.config/1 claim set: ${why}`,
      kid,
    );
  }
  const yaml = Buffer.from(claims.config, "utf8");
  return {
    config_version: claims.config_version,
    issued_at_ms: claims.iat * 1000,
    yaml,
    hash: configHash(yaml),
    kid: key.kid,
    envelope_sha256: createHash("sha256").update(envelope).digest("hex"),
  };
}
