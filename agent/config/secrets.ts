import { readFileSync } from "node:fs";
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
        hint: `export ${ref.env} in the agent's environment (systemd: EnvironmentFile=)`,
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
      hint: "check the path and that the agent's user may read it",
      cause: err,
    });
  }
  // `echo secret > file` leaves one newline that is not part of the secret; strip exactly one.
  const end =
    bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? bytes.length - 2 : bytes.length - 1) : bytes.length;
  const secret = bytes.subarray(0, end);
  if (secret.length === 0) {
    throw new QosProbeError("CONFIG_SECRET", `secret file ${ref.file} is empty`);
  }
  return secret;
}
