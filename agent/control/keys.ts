import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { open } from "node:fs/promises";
// The subpath, not "jose": the agent names its device key at every start, and the full entry loads
// all of JWS/JWE/JWT (46 modules) for this one function.
import type { JWK } from "jose";
import { calculateJwkThumbprint } from "jose/jwk/thumbprint";
import { QosProbeError } from "../errors.js";

/**
 * Ed25519 keys (RFC 8032) for the regulator's signed configuration and the agents' device keys.
 * Node's crypto makes and uses them natively; jose (RFC 7638) names them: the key id is the JWK
 * SHA-256 thumbprint of the public key, so the same id is computed from a PEM file, a JWK or a
 * private key, by us and by any third-party JOSE tool.
 */

export interface PublicKeyInfo {
  key: KeyObject;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` in envelopes and acks. */
  kid: string;
  jwk: { kty: "OKP"; crv: "Ed25519"; x: string };
}

export interface KeyPairFiles {
  private_pem: string;
  public_pem: string;
  public: PublicKeyInfo;
}

function notEd25519(what: string): QosProbeError {
  return new QosProbeError("CONFIG_SECRET", `${what} is not an Ed25519 key`, {
    hint: "make one with: qos-probe config keygen --out NAME",
  });
}

/** Describe a public key: its JWK (OKP/Ed25519, RFC 8037) and its RFC 7638 thumbprint. */
export async function describePublicKey(key: KeyObject, what = "the key"): Promise<PublicKeyInfo> {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== "ed25519") throw notEd25519(what);
  const exported = pub.export({ format: "jwk" }) as { x?: string };
  if (typeof exported.x !== "string") throw notEd25519(what);
  const jwk = { kty: "OKP", crv: "Ed25519", x: exported.x } as const;
  return { key: pub, jwk, kid: await calculateJwkThumbprint(jwk as JWK, "sha256") };
}

/** A fresh Ed25519 key pair as PEM text (PKCS #8 private, SPKI public). */
export async function generateKeyPair(): Promise<KeyPairFiles> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    private_pem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    public_pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    public: await describePublicKey(publicKey),
  };
}

/**
 * Write a private key readable by its owner only (0600), refusing to overwrite: replacing a key by
 * accident would orphan every agent that pinned it (or every device key registered for a site).
 */
export async function writePrivateKeyFile(path: string, pem: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new QosProbeError(
      "USAGE",
      code === "EEXIST"
        ? `${path} already exists; not overwriting a private key`
        : `cannot create ${path}: ${(err as Error).message}`,
      { hint: code === "EEXIST" ? "choose another --out name, or move the old key away first" : undefined },
    );
  }
  try {
    await handle.writeFile(pem);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Parse an Ed25519 public key given as PEM (SPKI), a JWK object or JWK JSON text. */
export function parsePublicKey(input: string | Record<string, unknown>, what: string): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === "string") {
      const text = input.trim();
      key = text.startsWith("{")
        ? createPublicKey({ key: JSON.parse(text) as never, format: "jwk" })
        : createPublicKey(text);
    } else {
      // Only the public members: a private JWK pasted by mistake is not silently accepted as a pin.
      if ("d" in input) throw new Error("this JWK holds a private key (d); pin the public part only");
      key = createPublicKey({ key: input as never, format: "jwk" });
    }
  } catch (err) {
    throw new QosProbeError("CONFIG_SECRET", `${what}: not a public key (${(err as Error).message})`, {
      hint: "give the PEM or JWK printed by: qos-probe config keygen",
    });
  }
  if (key.type !== "public") key = createPublicKey(key);
  if (key.asymmetricKeyType !== "ed25519") throw notEd25519(what);
  return key;
}

export function readPublicKeyFile(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read public key ${path}: ${(err as Error).message}`, {
      hint: "give the .pub file written by: qos-probe config keygen",
    });
  }
  return parsePublicKey(text, path);
}

export function readPrivateKeyFile(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new QosProbeError("CONFIG_SECRET", `cannot read private key ${path}: ${(err as Error).message}`, {
      hint: "give the .key file written by: qos-probe config keygen",
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    throw new QosProbeError("CONFIG_SECRET", `${path}: not a private key (${(err as Error).message})`, {
      hint: "give the PKCS #8 PEM file written by: qos-probe config keygen (not the .pub)",
    });
  }
  if (key.asymmetricKeyType !== "ed25519") throw notEd25519(path);
  return key;
}
