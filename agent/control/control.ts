import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../clock.js";
import type { AgentConfig } from "../config/schema.js";
import { ConfigError, formatConfigIssue } from "../errors.js";
import type { Logger } from "../log.js";
import { type ConfigAck, makeAck } from "./ack.js";
import { loadPinnedKey } from "./config-schema.js";
import { EnvelopeRejected, type VerifiedConfig, verifyEnvelope } from "./envelope.js";
import { describePublicKey, type PublicKeyInfo } from "./keys.js";
import { effectiveConfig } from "./merge.js";

/**
 * The agent's side of the signed configuration: every envelope offered (MQTT retained message, HTTPS
 * poll, last-known-good on disk) goes through one queue and one decision:
 *   1. signature from a pinned key (envelope.ts),
 *   2. config_version strictly newer than the live one (no rollback, no replay),
 *   3. the same validation as `qos-probe validate`, on the mesh with the local sections put in,
 *   4. applied through the agent's apply function (the SIGHUP path), which puts the previous
 *      configuration back if anything fails,
 *   5. kept on disk as last-known-good, so a reboot without a broker runs it,
 * and every decision is logged and answered with an ack.
 */

export interface LiveConfig {
  config_version: number;
  hash: string;
  key_id: string;
  issued_at: string;
  accepted_at: string;
  source: string;
}

export interface Decision {
  decision: "accepted" | "rejected";
  config_version: number | null;
  config_hash: string | null;
  reason: string | null;
  at: string;
  source: string;
}

export interface ConfigControlOptions {
  bootstrap: AgentConfig;
  dataDir: string;
  identity: { site: string; operator: string; province: string };
  log: Logger;
  clock: Clock;
  /** The agent's apply function: runs the new configuration or throws with the old one still running. */
  apply: (config: AgentConfig, hash: string) => Promise<void>;
  /** Where acks go (the MQTT control channel); called for every decision except a redelivery. */
  ack: (ack: ConfigAck) => void;
  /** After every decision (the agent refreshes its heartbeat). */
  decided?: () => void;
}

const LKG_FILE = "last-known-good.jws";
const STATE_FILE = "state.json";
/** Envelope digests remembered, so a retained message redelivered on each reconnect is decided once. */
const SEEN_MAX = 256;
/** How many validation problems go into a rejection reason (the log has all of them). */
const REASON_ISSUES = 5;

interface StateFile {
  /** The highest config_version ever accepted: the rollback floor, kept even if the LKG stops verifying. */
  floor: number;
  live: LiveConfig | null;
}

export class ConfigControl {
  private bootstrap: AgentConfig;
  private readonly opts: ConfigControlOptions;
  private readonly dir: string;
  private pinned: PublicKeyInfo[] = [];
  private floor = 0;
  private liveConfig: LiveConfig | null = null;
  private mesh: VerifiedConfig | null = null;
  private last: Decision | null = null;
  private readonly seen = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ConfigControlOptions) {
    this.opts = opts;
    this.bootstrap = opts.bootstrap;
    this.dir = join(opts.dataDir, "control");
  }

  /** The signed configuration running now, or null while the bootstrap file runs. */
  get live(): LiveConfig | null {
    return this.liveConfig;
  }

  /** The latest decision (for the heartbeat). */
  get lastDecision(): Decision | null {
    return this.last;
  }

  get pinnedKeyIds(): string[] {
    return this.pinned.map((k) => k.kid);
  }

  /**
   * Load the pins and the state on disk; when a last-known-good envelope still verifies with the pinned
   * keys and validates, return the configuration to start with. A last-known-good that no longer
   * verifies (its key was un-pinned) is logged and skipped: the bootstrap runs, the rollback floor stays.
   */
  async restore(): Promise<{ config: AgentConfig; hash: string } | null> {
    this.pinned = await pinnedKeys(this.bootstrap);
    await mkdir(this.dir, { recursive: true });
    const state = await readState(join(this.dir, STATE_FILE));
    this.floor = state?.floor ?? 0;
    let text: string;
    try {
      text = await readFile(join(this.dir, LKG_FILE), "utf8");
    } catch {
      return null;
    }
    try {
      const verified = await verifyEnvelope(text, this.pinned);
      const config = effectiveConfig(verified, this.bootstrap, `last-known-good v${verified.config_version}`);
      this.mesh = verified;
      this.liveConfig =
        state?.live?.hash === verified.hash ? state.live : liveOf(verified, "disk", this.now());
      this.floor = Math.max(this.floor, verified.config_version);
      this.seen.add(verified.envelope_sha256);
      this.opts.log.info(
        { config_version: verified.config_version, config_hash: verified.hash, key_id: verified.kid },
        "signed configuration: last-known-good restored from disk",
      );
      return { config, hash: verified.hash };
    } catch (err) {
      this.opts.log.warn(
        { err: (err as Error).message, floor: this.floor },
        "signed configuration: last-known-good does not verify or validate any more; running the bootstrap file",
      );
      return null;
    }
  }

  /**
   * The local bootstrap file changed (SIGHUP): new pins, and the live mesh merged with the new local
   * sections. Returns what to apply. When the new pins no longer verify the live mesh, the bootstrap
   * runs alone (and says so) until a mesh signed by a pinned key arrives.
   */
  async setBootstrap(next: AgentConfig, nextHash: string): Promise<{ config: AgentConfig; hash: string }> {
    return this.enqueue(async () => {
      this.bootstrap = next;
      this.pinned = await pinnedKeys(next);
      this.seen.clear();
      const mesh = this.mesh;
      if (!mesh) return { config: next, hash: nextHash };
      try {
        const stillPinned = this.pinned.some((k) => k.kid === mesh.kid);
        if (!stillPinned) throw new Error(`its key ${mesh.kid} is no longer pinned`);
        return { config: effectiveConfig(mesh, next, `live v${mesh.config_version}`), hash: mesh.hash };
      } catch (err) {
        this.opts.log.warn(
          { err: (err as Error).message, config_version: mesh.config_version },
          "signed configuration no longer usable with the new local file; running the local file",
        );
        this.mesh = null;
        this.liveConfig = null;
        return { config: next, hash: nextHash };
      }
    });
  }

  /** Decide on one envelope. Resolves with the decision, or null for a redelivery already decided. */
  offer(envelope: string, source: string): Promise<Decision | null> {
    return this.enqueue(() => this.decide(envelope, source));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private now(): string {
    return new Date(this.opts.clock.now()).toISOString();
  }

  private async decide(envelope: string, source: string): Promise<Decision | null> {
    const digest = createHash("sha256").update(envelope.trim()).digest("hex");
    if (this.seen.has(digest)) return null;
    if (this.seen.size >= SEEN_MAX) this.seen.clear();
    this.seen.add(digest);

    let verified: VerifiedConfig;
    try {
      verified = await verifyEnvelope(envelope, this.pinned);
    } catch (err) {
      const reason =
        err instanceof EnvelopeRejected
          ? `${err.code}: ${err.message}`
          : `malformed: ${(err as Error).message}`;
      return this.reject(source, null, null, reason, err instanceof EnvelopeRejected ? err.kid : undefined);
    }
    const { config_version: version, hash } = verified;
    if (this.liveConfig && version === this.liveConfig.config_version && hash === this.liveConfig.hash) {
      // The running configuration again (a retained message on a new connection, the same file over
      // HTTPS after a restart): nothing to decide, nothing to answer.
      this.opts.log.debug({ config_version: version, source }, "signed configuration: already running");
      return null;
    }
    const liveVersion = Math.max(this.floor, this.liveConfig?.config_version ?? 0);
    if (version <= liveVersion) {
      const what = version === liveVersion ? "replay" : "rollback";
      return this.reject(
        source,
        version,
        hash,
        `${what}: config_version ${version} is not newer than the live ${liveVersion}`,
        verified.kid,
      );
    }
    let config: AgentConfig;
    try {
      config = effectiveConfig(verified, this.bootstrap, `config_version ${version}`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const shown = err.issues.slice(0, REASON_ISSUES).map(formatConfigIssue);
      const more = err.issues.length - shown.length;
      this.opts.log.error({ config_version: version }, `signed configuration invalid:\n${err.message}`);
      return this.reject(
        source,
        version,
        hash,
        `invalid: ${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}`,
        verified.kid,
      );
    }
    try {
      await this.opts.apply(config, hash);
    } catch (err) {
      return this.reject(source, version, hash, `apply failed: ${(err as Error).message}`, verified.kid);
    }
    this.mesh = verified;
    this.floor = version;
    this.liveConfig = liveOf(verified, source, this.now());
    await this.persist(envelope);
    return this.record(
      {
        decision: "accepted",
        config_version: version,
        config_hash: hash,
        reason: null,
        at: this.now(),
        source,
      },
      verified.kid,
    );
  }

  private reject(
    source: string,
    version: number | null,
    hash: string | null,
    reason: string,
    kid: string | undefined,
  ): Decision {
    return this.record(
      { decision: "rejected", config_version: version, config_hash: hash, reason, at: this.now(), source },
      kid,
    );
  }

  private record(d: Decision, kid: string | undefined): Decision {
    this.last = d;
    const fields = {
      decision: d.decision,
      config_version: d.config_version,
      config_hash: d.config_hash,
      key_id: kid ?? null,
      source: d.source,
      live_version: this.liveConfig?.config_version ?? null,
    };
    if (d.decision === "accepted") this.opts.log.info(fields, "signed configuration accepted and applied");
    else
      this.opts.log.warn(
        { ...fields, reason: d.reason },
        "signed configuration rejected; the running one stays",
      );
    this.opts.ack(makeAck(this.opts.identity, d, kid ?? null, this.liveConfig));
    this.opts.decided?.();
    return d;
  }

  /** Envelope then state, each written to a temporary file and renamed: a crash leaves the old or the new. */
  private async persist(envelope: string): Promise<void> {
    try {
      await atomicWrite(join(this.dir, LKG_FILE), `${envelope.trim()}\n`);
      const state: StateFile = { floor: this.floor, live: this.liveConfig };
      await atomicWrite(join(this.dir, STATE_FILE), `${JSON.stringify(state)}\n`);
    } catch (err) {
      this.opts.log.error(
        { err: (err as Error).message },
        "last-known-good not written: a reboot without a broker would run the previous configuration",
      );
    }
  }
}

function liveOf(v: VerifiedConfig, source: string, acceptedAt: string): LiveConfig {
  return {
    config_version: v.config_version,
    hash: v.hash,
    key_id: v.kid,
    issued_at: new Date(v.issued_at_ms).toISOString(),
    accepted_at: acceptedAt,
    source,
  };
}

async function pinnedKeys(config: AgentConfig): Promise<PublicKeyInfo[]> {
  const refs = config.control?.regulator_keys ?? [];
  return Promise.all(
    refs.map((ref, i) =>
      describePublicKey(loadPinnedKey(ref, `control.regulator_keys[${i}]`), `control.regulator_keys[${i}]`),
    ),
  );
}

async function readState(path: string): Promise<StateFile | null> {
  try {
    const raw = JSON.parse(await readFile(path, "utf8")) as Partial<StateFile>;
    return { floor: Number.isInteger(raw.floor) ? (raw.floor as number) : 0, live: raw.live ?? null };
  } catch {
    return null;
  }
}

async function atomicWrite(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
