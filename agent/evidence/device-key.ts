import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describePublicKey, type PublicKeyInfo, writePrivateKeyFile } from "../control/keys.js";
import { QosProbeError } from "../errors.js";

/**
 * The agent's Ed25519 device key: made on first start, kept 0600 in the site's data directory, never
 * leaves the machine. Its public key goes out in every heartbeat (`device_key`), and the regulator
 * registers it per site in the mesh (`sites[].device_key`) so collectors and third parties can check
 * that a result came unaltered from the access point that measured it.
 */

export const DEVICE_KEY_FILE = "device.key";

export interface DeviceKey {
  privateKey: KeyObject;
  public: PublicKeyInfo;
  /** true when this start made the key. */
  created: boolean;
}

export async function loadOrCreateDeviceKey(dataDir: string): Promise<DeviceKey> {
  const path = join(dataDir, DEVICE_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new QosProbeError("OUTBOX_IO", `cannot read device key ${path}: ${(err as Error).message}`, {
        hint: "the agent's user must own its data directory",
      });
    }
  }
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync("ed25519");
    await writePrivateKeyFile(path, privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    return { privateKey, public: await describePublicKey(privateKey), created: true };
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new QosProbeError("OUTBOX_IO", `device key ${path} is unreadable: ${(err as Error).message}`, {
      hint: "restore it from backup; a new key would need registering again in the mesh (sites[].device_key)",
    });
  }
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw new QosProbeError("OUTBOX_IO", `device key ${path} is not an Ed25519 key`);
  return { privateKey, public: await describePublicKey(privateKey), created: false };
}
