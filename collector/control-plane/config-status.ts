import type { SiteStatusRow } from "../store/store.js";
import { isoInZone } from "../timezone.js";
import type { ConfigAckRow, SiteControlRow } from "./store.js";

/**
 * The regulator's view of the signed configuration (issue 11): per site, which version it runs, since
 * when, and — for every site not on the expected version — why: it rejected it (with the agent's reason),
 * it has not answered yet, it never answered at all, or its heartbeat is stale so nobody can tell.
 * A pure function of the stored rows and `now`: the one path for `qos-probe config status` and the
 * report's "Configuration" section.
 */

export const CONFIG_STATUS_SCHEMA_ID = "qosprobe.config-status/1";

/** Heartbeat period assumed for an agent that does not say its own (agent heartbeat.interval_s default). */
export const DEFAULT_HEARTBEAT_INTERVAL_S = 60;
/** A heartbeat is stale after this many of the agent's periods without a newer one. */
export const STALE_PERIODS = 3;

/**
 * - current      runs the expected version
 * - ahead        runs a newer version than expected (`--expect` lower than what was published since)
 * - rejected     refused the expected version (or, when it never saw that one, its latest decision was a refusal)
 * - pending      has answered earlier envelopes but not the expected version
 * - never-acked  not one ack stored from this site
 * - no-expected  no signed version is known (none acked or live anywhere, and no `--expect`)
 */
export type SiteConfigState = "current" | "ahead" | "rejected" | "pending" | "never-acked" | "no-expected";

export interface AckSummary {
  at: string;
  decision: "accepted" | "rejected";
  config_version: number | null;
  config_hash: string | null;
  key_id: string | null;
  reason: string | null;
  source: string;
  live_version: number | null;
}

export interface SiteConfigStatus {
  operator: string;
  province: string;
  site: string;
  state: SiteConfigState;
  /** On the expected version with a fresh heartbeat (or, with no expected version, a fresh heartbeat). */
  ok: boolean;
  /** The signed config_version running, from the newer of the last heartbeat and the last ack; null: bootstrap file. */
  running_version: number | null;
  running_hash: string | null;
  /**
   * When the agent made the version it runs live (its clock), ISO 8601 UTC: the heartbeat's
   * config_signed.accepted_at, else the time of the ack that accepted it (a moment later: after the
   * last-known-good is written).
   */
  accepted_at: string | null;
  /** The heartbeat's config_version label (for a site on its bootstrap file, the file's own label). */
  config_label: string | null;
  heartbeat: {
    /** ISO 8601 UTC; null: never seen. */
    last: string | null;
    age_s: number | null;
    stale_after_s: number;
    /** No heartbeat, an `offline` Last Will, or none for stale_after_s. */
    stale: boolean;
    state: "online" | "offline" | null;
  };
  /** RFC 7638 thumbprint of the agent's result-signing key (heartbeat device_key_id). */
  device_key_id: string | null;
  /** The rejection that explains state "rejected". */
  rejection: AckSummary | null;
  last_ack: AckSummary | null;
  acks: { accepted: number; rejected: number };
  /** One line for a person: what is wrong, or "on vN". */
  detail: string;
}

export interface ConfigStatusReport {
  schema: typeof CONFIG_STATUS_SCHEMA_ID;
  generated_at: string;
  expected_version: number | null;
  /** "expect": given by the caller; "newest-seen": the highest signed version any agent acked or runs. */
  expected_from: "expect" | "newest-seen" | "none";
  sites: SiteConfigStatus[];
  /** Sites with ok = false. */
  not_ok: number;
}

export interface ConfigStatusInput {
  statuses: readonly SiteStatusRow[];
  control: readonly SiteControlRow[];
  acks: readonly ConfigAckRow[];
  /** Sites the collector configuration lists: shown even if they never sent anything. */
  registered?: readonly { operator: string; province: string; site: string }[];
}

export interface ConfigStatusOptions {
  now_ms: number;
  /** The version every site should run; default: the newest signed version seen (see expected_from). */
  expect?: number;
  /** Stale after this many seconds, for every site; default STALE_PERIODS × the agent's own period. */
  stale_after_s?: number;
}

type Key = string;
const keyOf = (r: { operator: string; province: string; site: string }): Key =>
  JSON.stringify([r.operator, r.province, r.site]);

function summary(a: ConfigAckRow): AckSummary {
  return {
    at: a.at.toISOString(),
    decision: a.decision,
    config_version: a.config_version,
    config_hash: a.config_hash,
    key_id: a.key_id,
    reason: a.reason,
    source: a.source,
    live_version: a.live_version,
  };
}

/**
 * The newest signed version seen: the highest config_version in any ack (an ack carries a version only
 * when the agent verified the envelope's signature against a pinned key, so an unsigned or tampered
 * claim never counts) or live in any heartbeat. Null when there is none.
 */
export function newestSeenVersion(
  acks: readonly ConfigAckRow[],
  control: readonly SiteControlRow[],
): number | null {
  let max: number | null = null;
  for (const v of [...acks.map((a) => a.config_version), ...control.map((c) => c.signed_version)]) {
    if (v !== null && (max === null || v > max)) max = v;
  }
  return max;
}

export function configStatus(input: ConfigStatusInput, opts: ConfigStatusOptions): ConfigStatusReport {
  const newest = newestSeenVersion(input.acks, input.control);
  const expected = opts.expect ?? newest;
  const expected_from = opts.expect !== undefined ? "expect" : newest !== null ? "newest-seen" : "none";

  const ids = new Map<Key, { operator: string; province: string; site: string }>();
  const add = (r: { operator: string; province: string; site: string }) => {
    const k = keyOf(r);
    if (!ids.has(k)) ids.set(k, { operator: r.operator, province: r.province, site: r.site });
  };
  for (const r of input.registered ?? []) add(r);
  for (const r of input.statuses) add(r);
  for (const r of input.control) add(r);
  for (const r of input.acks) add(r);

  const statusBy = new Map(input.statuses.map((r) => [keyOf(r), r]));
  const controlBy = new Map(input.control.map((r) => [keyOf(r), r]));
  const acksBy = new Map<Key, ConfigAckRow[]>();
  for (const a of input.acks) {
    const list = acksBy.get(keyOf(a)) ?? [];
    list.push(a);
    acksBy.set(keyOf(a), list);
  }

  const sites = [...ids.entries()]
    .sort(([, a], [, b]) => compare(a.operator, b.operator) || compare(a.site, b.site))
    .map(([k, id]) =>
      siteStatus(
        id,
        statusBy.get(k) ?? null,
        controlBy.get(k) ?? null,
        sortAcks(acksBy.get(k) ?? []),
        expected,
        opts,
      ),
    );
  return {
    schema: CONFIG_STATUS_SCHEMA_ID,
    generated_at: new Date(opts.now_ms).toISOString(),
    expected_version: expected,
    expected_from,
    sites,
    not_ok: sites.filter((s) => !s.ok).length,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortAcks(acks: ConfigAckRow[]): ConfigAckRow[] {
  return [...acks].sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id);
}

function siteStatus(
  id: { operator: string; province: string; site: string },
  status: SiteStatusRow | null,
  control: SiteControlRow | null,
  acks: readonly ConfigAckRow[],
  expected: number | null,
  opts: ConfigStatusOptions,
): SiteConfigStatus {
  const lastAck = acks.at(-1) ?? null;
  const accepted = acks.filter((a) => a.decision === "accepted");

  // Which version runs: the newer word of the two (both are the agent's clock).
  let running: number | null = null;
  let runningHash: string | null = null;
  let acceptedAt: string | null = null;
  if (control && (!lastAck || control.last_heartbeat.getTime() >= lastAck.at.getTime())) {
    running = control.signed_version;
    runningHash = control.signed_hash;
    acceptedAt = control.signed_accepted_at?.toISOString() ?? null;
  } else if (lastAck) {
    running = lastAck.live_version;
  }
  if (running !== null) {
    const took = accepted.filter((a) => a.config_version === running).at(-1);
    runningHash ??= took?.config_hash ?? null;
    acceptedAt ??= took?.at.toISOString() ?? null;
  }

  // Heartbeat freshness: the newest of site_status and site_control (the same heartbeat, normally).
  const beats = [status?.last_heartbeat, control?.last_heartbeat].filter((d): d is Date => d instanceof Date);
  const last = beats.length ? new Date(Math.max(...beats.map((d) => d.getTime()))) : null;
  const staleAfter =
    opts.stale_after_s ?? STALE_PERIODS * (control?.heartbeat_interval_s ?? DEFAULT_HEARTBEAT_INTERVAL_S);
  const age = last === null ? null : Math.max(0, Math.round((opts.now_ms - last.getTime()) / 1000));
  const offline = status?.state === "offline";
  const stale = last === null || offline || (age ?? 0) > staleAfter;

  let state: SiteConfigState;
  let rejection: ConfigAckRow | null = null;
  if (expected === null) state = "no-expected";
  else if (running === expected) state = "current";
  else if (running !== null && running > expected) state = "ahead";
  else {
    rejection =
      acks.filter((a) => a.decision === "rejected" && a.config_version === expected).at(-1) ??
      (lastAck?.decision === "rejected" ? lastAck : null);
    state = rejection ? "rejected" : acks.length > 0 ? "pending" : "never-acked";
  }
  const ok = (state === "current" || state === "no-expected") && !stale;

  const heartbeat = {
    last: last?.toISOString() ?? null,
    age_s: age,
    stale_after_s: staleAfter,
    stale,
    state: status?.state ?? (control ? ("online" as const) : null),
  };
  return {
    ...id,
    state,
    ok,
    running_version: running,
    running_hash: runningHash,
    accepted_at: acceptedAt,
    config_label: control?.config_label ?? status?.config_version ?? null,
    heartbeat,
    device_key_id: control?.device_key_id ?? null,
    rejection: rejection ? summary(rejection) : null,
    last_ack: lastAck ? summary(lastAck) : null,
    acks: { accepted: accepted.length, rejected: acks.length - accepted.length },
    detail: detailOf(state, expected, running, rejection, heartbeat),
  };
}

function detailOf(
  state: SiteConfigState,
  expected: number | null,
  running: number | null,
  rejection: ConfigAckRow | null,
  hb: SiteConfigStatus["heartbeat"],
): string {
  const runs = running === null ? "runs its bootstrap file" : `runs v${running}`;
  const what = {
    current: `on v${expected}`,
    ahead: `${runs}, newer than the expected v${expected}`,
    rejected: `rejected ${rejection?.config_version == null ? "an envelope" : `v${rejection.config_version}`}: ${rejection?.reason ?? ""}; ${runs}`,
    pending: `no answer on v${expected} yet; ${runs}`,
    "never-acked": `never acked a signed configuration; ${runs}`,
    "no-expected": `no signed configuration known; ${runs}`,
  }[state];
  if (!hb.stale) return what;
  const why =
    hb.last === null
      ? "no heartbeat ever"
      : hb.state === "offline"
        ? `offline since its last heartbeat ${hb.age_s}s ago`
        : `heartbeat stale: last ${hb.age_s}s ago (> ${hb.stale_after_s}s)`;
  return `${why}; ${what}`;
}

/**
 * The same view with every time in `zone` (ISO 8601 with that zone's offset), as the report prints
 * times: generated_at, accepted_at, the last heartbeat and the acks' times.
 */
export function configStatusInZone(r: ConfigStatusReport, zone: string): ConfigStatusReport {
  const t = (iso: string | null) => (iso === null ? null : isoInZone(Date.parse(iso), zone));
  const ack = (a: AckSummary | null) => (a === null ? null : { ...a, at: t(a.at) as string });
  return {
    ...r,
    generated_at: t(r.generated_at) as string,
    sites: r.sites.map((s) => ({
      ...s,
      accepted_at: t(s.accepted_at),
      heartbeat: { ...s.heartbeat, last: t(s.heartbeat.last) },
      rejection: ack(s.rejection),
      last_ack: ack(s.last_ack),
    })),
  };
}
