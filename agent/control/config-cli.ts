import { readFile, writeFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { parseConfig } from "../config/load.js";
import { ConfigError, QosProbeError } from "../errors.js";
import { EnvelopeRejected, signConfig, verifyEnvelope } from "./envelope.js";
import {
  describePublicKey,
  generateKeyPair,
  readPrivateKeyFile,
  readPublicKeyFile,
  writePrivateKeyFile,
} from "./keys.js";

/** `qos-probe config keygen | sign | verify | pubkey`: text out, errors as QosProbeError. */

export interface CliOutput {
  ok: boolean;
  /** For stdout (the envelope, or the verification summary). */
  stdout: string;
  /** For stderr (what was done, or why not). */
  stderr: string;
}

function pinSnippet(jwk: { x: string }, kid: string): string {
  return [
    "Pin it in each agent's local file (keep the old key listed while rotating):",
    "  control:",
    "    regulator_keys:",
    `      - { kty: OKP, crv: Ed25519, x: ${jwk.x} }   # kid ${kid}`,
  ].join("\n");
}

export async function keygen(out: string): Promise<CliOutput> {
  const pair = await generateKeyPair();
  await writePrivateKeyFile(`${out}.key`, pair.private_pem);
  try {
    await writeFile(`${out}.pub`, pair.public_pem, { flag: "wx", mode: 0o644 });
  } catch (err) {
    throw new QosProbeError("USAGE", `cannot create ${out}.pub: ${(err as Error).message}`);
  }
  const { jwk, kid } = pair.public;
  return {
    ok: true,
    stdout: `${JSON.stringify(jwk)}\n`,
    stderr: [
      `wrote ${out}.key (private, mode 0600: keep it offline) and ${out}.pub (public)`,
      `key id (RFC 7638 thumbprint): ${kid}`,
      `public key as PEM:\n${pair.public_pem.trimEnd()}`,
      pinSnippet(jwk, kid),
    ].join("\n"),
  };
}

/** Print the public half of a key file (private or public) as JWK and PEM. */
export async function pubkey(path: string): Promise<CliOutput> {
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new QosProbeError("CONFIG_READ", `cannot read ${path}: ${err.message}`);
  });
  const key = text.includes("PRIVATE KEY") ? readPrivateKeyFile(path) : readPublicKeyFile(path);
  const info = await describePublicKey(key, path);
  const pem = info.key.export({ format: "pem", type: "spki" }).toString().trimEnd();
  return {
    ok: true,
    stdout: `${JSON.stringify(info.jwk)}\n`,
    stderr: `key id ${info.kid}\n${pem}\n${pinSnippet(info.jwk, info.kid)}`,
  };
}

/** The mesh's own config_version when it is a whole number (the envelope's version must equal it). */
function meshVersion(yaml: Buffer): string | undefined {
  const v = parseDocument(yaml.toString("utf8")).get("config_version");
  return v === undefined || v === null ? undefined : String(v);
}

export async function sign(opts: {
  mesh: string;
  key: string;
  version?: number;
  out?: string;
  now_s?: number;
}): Promise<CliOutput> {
  let yaml: Buffer;
  try {
    yaml = await readFile(opts.mesh);
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${opts.mesh}: ${(err as Error).message}`);
  }
  // The same check as `qos-probe validate`: never sign a mesh an agent would refuse.
  try {
    parseConfig(yaml, opts.mesh);
  } catch (err) {
    if (err instanceof ConfigError) {
      return {
        ok: false,
        stdout: "",
        stderr: `${err.message}\nnot signed: fix the mesh first (qos-probe validate)`,
      };
    }
    throw err;
  }
  const label = meshVersion(yaml);
  let version = opts.version;
  if (version === undefined) {
    if (label === undefined || !/^[1-9][0-9]{0,15}$/.test(label)) {
      throw new QosProbeError(
        "USAGE",
        `${opts.mesh}: config_version ${label === undefined ? "is missing" : `"${label}" is not a whole number`}`,
        {
          hint: "give --config-version N (greater than the version the agents run), or config_version: N in the file",
        },
      );
    }
    version = Number(label);
  } else if (label !== undefined && label !== String(version)) {
    throw new QosProbeError(
      "USAGE",
      `${opts.mesh}: config_version: "${label}" but --config-version ${version}: one configuration, one number`,
      { hint: `set config_version: ${version} in the file, or remove it (the envelope's version is echoed)` },
    );
  }
  const privateKey = readPrivateKeyFile(opts.key);
  const iat = opts.now_s ?? Math.floor(Date.now() / 1000);
  const envelope = await signConfig({ yaml, config_version: version, privateKey, issued_at_s: iat });
  const { kid } = await describePublicKey(privateKey);
  const summary = `signed ${opts.mesh}: config_version ${version}, issued ${new Date(iat * 1000).toISOString()}, key ${kid}`;
  if (opts.out) {
    await writeFile(opts.out, `${envelope}\n`);
    return { ok: true, stdout: "", stderr: `${summary}\nwrote ${opts.out}` };
  }
  return { ok: true, stdout: `${envelope}\n`, stderr: summary };
}

export async function verify(opts: { envelope: string; pub: string[]; show?: boolean }): Promise<CliOutput> {
  if (opts.pub.length === 0)
    throw new QosProbeError("USAGE", "give at least one --pub KEY (the regulator's public key file)");
  const text = await readFile(opts.envelope, "utf8").catch((err: Error) => {
    throw new QosProbeError("CONFIG_READ", `cannot read ${opts.envelope}: ${err.message}`);
  });
  const pinned = await Promise.all(opts.pub.map(async (p) => describePublicKey(readPublicKeyFile(p), p)));
  try {
    const v = await verifyEnvelope(text, pinned);
    const line =
      `${opts.envelope}: valid: config_version ${v.config_version}, issued ${new Date(v.issued_at_ms).toISOString()}, ` +
      `sha256 ${v.hash}, key ${v.kid}`;
    return {
      ok: true,
      stdout: opts.show ? v.yaml.toString("utf8") : `${line}\n`,
      stderr: opts.show ? line : "",
    };
  } catch (err) {
    if (err instanceof EnvelopeRejected)
      return { ok: false, stdout: "", stderr: `${opts.envelope}: NOT valid: ${err.code}: ${err.message}` };
    throw err;
  }
}
