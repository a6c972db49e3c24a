import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultClientId } from "./config.js";

const FILE = "client-id";

/**
 * The collector's MQTT client id when the configuration names none: unique (host name plus 8 random
 * hex digits, so a second collector on the same host or a cloned VM does not take over the first one's
 * session) and stable across restarts (kept in `<dataDir>/client-id`, so the broker resumes the session
 * and what it queued). Before, the id defaulted to the host name alone (issue 7).
 */
export async function persistentClientId(dataDir: string): Promise<string> {
  const path = join(dataDir, FILE);
  try {
    const kept = (await readFile(path, "utf8")).trim();
    if (/^[A-Za-z0-9-]{1,128}$/.test(kept)) return kept;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const id = `${defaultClientId()}-${randomBytes(4).toString("hex")}`;
  await mkdir(dataDir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${id}\n`);
  await rename(tmp, path);
  return id;
}
