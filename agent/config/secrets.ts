import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { QosProbeError } from "../errors.js";
import type { SecretRef } from "./schema.js";

/**
 * Read a secret the configuration only refers to. Errors name the reference, never the value, and
 * nothing here logs: the caller holds the Buffer for as short a time as it can.
 */
export function resolveSecret(ref: SecretRef, env: Record<string, string | undefined> = process.env): Buffer {
  if ("env" in ref) {
    const value = env[ref.env];
    if (value === undefined || value === "") {
      throw new QosProbeError("CONFIG_SECRET", `secret environment variable ${ref.env} is not set`, {
        hint: `export ${ref.env} in the environment qos-probe runs in (systemd: EnvironmentFile=)`,
      });
    }
    return Buffer.from(value, "utf8");
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(ref.file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new QosProbeError("CONFIG_SECRET", `cannot read secret file ${ref.file} (${code})`, {
      hint: "check the path and that the user qos-probe runs as may read it",
      cause: err,
    });
  }
  const secret = withoutFinalNewline(bytes);
  if (secret.length === 0) {
    throw new QosProbeError("CONFIG_SECRET", `secret file ${ref.file} is empty`);
  }
  return secret;
}

/** `echo secret > file` leaves one newline (LF or CRLF) that is not part of the secret: strip exactly one. */
function withoutFinalNewline(bytes: Buffer): Buffer {
  const end =
    bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? bytes.length - 2 : bytes.length - 1) : bytes.length;
  return bytes.subarray(0, end);
}

/**
 * A STAMP key file holds the shared HMAC key: hex (64 hex digits for 32 bytes) or raw bytes. Hex is
 * what people paste from `openssl rand -hex 32`; anything else is taken byte for byte, but for one final
 * newline, as resolveSecret does: `--auth-key-file k` on the command line and `{ file: k }` in a
 * configuration must give the same key, or a CLI reflector and an agent sharing a raw key file would
 * fail every HMAC (STAMP_AUTH). Errors name the file.
 */
export async function readKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new QosProbeError("CONFIG_SECRET", `cannot read key file ${path}: ${(err as Error).message}`, {
      hint: "create it with: openssl rand -hex 32 > FILE && chmod 600 FILE",
    });
  }
  const key = withoutFinalNewline(raw);
  if (key.length === 0) {
    throw new QosProbeError("CONFIG_SECRET", `key file ${path} is empty`, {
      hint: "write the shared key into it: openssl rand -hex 32 > FILE && chmod 600 FILE",
    });
  }
  return decodeKey(key);
}

export function decodeKey(raw: Buffer): Buffer {
  const text = raw.toString("utf8").trim();
  if (/^([0-9a-fA-F]{2}){16,}$/.test(text)) return Buffer.from(text, "hex");
  if (raw.length === 0) throw new QosProbeError("CONFIG_SECRET", "key file is empty");
  return raw;
}
