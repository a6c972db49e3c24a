import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { DeviceKey } from "./device-key.js";
import { type Sealed, seal, sealedPayload } from "./seal.js";

/**
 * This agent's hash chain over its results. The head (digest of the last sealed result) is written
 * synchronously, fsynced, before the result goes to the outbox, so a restart continues the chain. A
 * crash between the two, or an outbox append that fails, leaves the next result's `prev` pointing at a
 * result nobody will receive: the collector then shows a chain break there, which is the truth (a result
 * was lost at the agent).
 */
export class ResultChain {
  private readonly path: string;
  private head: string | null;
  private readonly key: DeviceKey;

  constructor(dataDir: string, key: DeviceKey) {
    const dir = join(dataDir, "evidence");
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, "chain-head.json");
    this.key = key;
    this.head = readHead(this.path);
  }

  get kid(): string {
    return this.key.public.kid;
  }

  /** The public key as a JWK, for the heartbeat and for sites[].device_key. */
  get publicJwk(): { kty: "OKP"; crv: "Ed25519"; x: string } {
    return this.key.public.jwk;
  }

  /** Seal the next result (synchronously: called inside the outbox's append, in seq order). */
  next<T extends Record<string, unknown>>(message: T): T & Sealed {
    return this.advance(message).sealed;
  }

  /**
   * Seal the next result and give the bytes to publish: its RFC 8785 canonical JSON, whose SHA-256 is
   * the chain digest (seal.ts sealedPayload), so the collector hashes what it receives as it is.
   */
  nextPayload(message: Record<string, unknown>): Buffer {
    return this.advance(message).bytes;
  }

  private advance<T extends Record<string, unknown>>(message: T): { sealed: T & Sealed; bytes: Buffer } {
    const sealed = seal(message, this.head, this.key.privateKey);
    const { bytes, digest } = sealedPayload(sealed);
    writeHead(this.path, { hash: digest, seq: typeof message.seq === "number" ? message.seq : null });
    this.head = digest;
    return { sealed, bytes };
  }
}

function readHead(path: string): string | null {
  try {
    const { hash } = JSON.parse(readFileSync(path, "utf8")) as { hash?: unknown };
    return typeof hash === "string" ? hash : null;
  } catch {
    return null;
  }
}

function writeHead(path: string, head: { hash: string; seq: number | null }): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(head)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
