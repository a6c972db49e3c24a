import { isIP } from "node:net";
import { validateDetailed } from "node-cron";
import type { z } from "zod";
import { QosProbeError } from "../errors.js";
import {
  ICMP_MAX_COUNT,
  ICMP_MAX_RATE_PPS,
  ICMP_MIN_PACKET_BYTES,
  ICMP_MIN_PAYLOAD_BYTES,
  ICMP_MIN_USER_INTERVAL_MS,
  ICMP_OVERHEAD_BYTES,
  IP_UDP_OVERHEAD_BYTES,
  MAX_RUN_PACKETS,
  STAMP_BASE_BYTES,
  STAMP_MAX_DATAGRAM_BYTES,
  stampPacketBytes,
  stampSizeHint,
} from "../probe/limits.js";
import { literalFamilyConflict } from "../probe/resolve.js";
import { MIN_POISSON_EXPECTED_PACKETS } from "../probe/send-times.js";
import { parseTarget } from "../probe/target.js";
import { checkPair, PAIR_MIN_DISTANCE_KM } from "./geo.js";
import { defaultOutboxBytes } from "./outbox-size.js";
import { findProvince } from "./provinces.js";
import type { AgentConfigParsed, MqttSection, Site, TestConfig } from "./schema.js";
import { closest } from "./suggest.js";

/**
 * Cross-field rules, run from the schema's `superRefine`s. Each custom issue carries its fix in
 * `params.hint`; `issues.ts` renders it.
 */

type Ctx = z.RefinementCtx;
type Path = (string | number)[];

function issue(ctx: Ctx, path: Path, message: string, hint?: string): void {
  ctx.addIssue({ code: "custom", path, message, ...(hint ? { params: { hint } } : {}) });
}

/**
 * Availability is judged on aligned 5-minute windows (spec 3.2.2.4), so a result interval must never
 * straddle a window boundary: it either divides 300 s or is made of whole windows. Dividing 3600 on top
 * keeps the interval starts at the same wall-clock offsets every hour, so every agent of a mesh cuts
 * time at the same instants and results of a pair line up.
 */
export function intervalAligns(seconds: number): boolean {
  return 3600 % seconds === 0 && (300 % seconds === 0 || seconds % 300 === 0);
}
const ALIGNED_INTERVALS = Array.from({ length: 3600 }, (_, i) => i + 1).filter(intervalAligns);

export function checkScheduled(s: { cron: string }, ctx: Ctx): void {
  // node-cron's own parser decides, so what validates here is exactly what the scheduler accepts.
  const result = validateDetailed(s.cron);
  if (result.valid) return;
  const why = result.errors.map((e) => `${e.field} "${e.value ?? ""}"`).join(", ");
  issue(
    ctx,
    ["cron"],
    `invalid cron expression "${s.cron}"${why ? `: bad ${why}` : ""}`,
    'node-cron fields: [second] minute hour day-of-month month day-of-week, e.g. "0 */5 * * * *"',
  );
}

/** Run `rule` unless a value it reads has a schema error of its own; remember what blocked it. */
type When = (keys: readonly (keyof TestConfig)[], rule: () => void) => void;

/**
 * A rule the rule phase had to skip: not an issue (issues.ts leaves it out of them) but a promise that
 * more checks follow, printed last by validate.
 */
function unchecked(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: "custom", path, message, params: { unchecked: true } });
}

export function checkTest(t: TestConfig, ctx: Ctx): void {
  // checkTest also runs on a test with schema errors (one pass reports both phases): the values that
  // failed their own checks are not read; the rules needing them are named as not checked yet.
  const bad = new Set(
    ctx.issues
      .filter((i) => i.code !== "unrecognized_keys" && i.code !== "custom")
      .map((i) => String(i.path?.[0] ?? "")),
  );
  const blocked = new Set<string>();
  const when: When = (keys, rule) => {
    const hit = keys.filter((k) => bad.has(k));
    if (hit.length === 0) rule();
    else for (const k of hit) blocked.add(k);
  };
  when(["to", "target"], () => {
    if (t.to !== undefined && t.target !== undefined) {
      issue(ctx, ["target"], "give either to (a site) or target (a URL), not both");
    } else if (t.to === undefined && t.target === undefined) {
      issue(
        ctx,
        [],
        "a test needs to: SITE_ID or target: URL",
        'e.g. to: gz-unicom-01 or target: "stamp://192.0.2.20:862"',
      );
    }
  });
  when(["continuous", "scheduled"], () => {
    if (t.continuous !== undefined && t.scheduled !== undefined) {
      issue(ctx, ["scheduled"], "give either continuous or scheduled, not both");
    } else if (t.continuous === undefined && t.scheduled === undefined) {
      issue(ctx, [], "a test needs continuous: { interval_s } or scheduled: { cron, duration_s }");
    }
  });
  when(["continuous"], () => {
    if (t.continuous && !intervalAligns(t.continuous.interval_s)) {
      issue(
        ctx,
        ["continuous", "interval_s"],
        `interval_s ${t.continuous.interval_s} does not align with the 5-minute availability windows`,
        `use one of ${ALIGNED_INTERVALS.join(", ")}`,
      );
    }
  });
  const runSeconds = t.continuous?.interval_s ?? t.scheduled?.duration_s;
  when(["rate_pps", "continuous", "scheduled"], () => {
    if (runSeconds !== undefined && t.rate_pps * runSeconds < 1) {
      issue(
        ctx,
        ["rate_pps"],
        `rate_pps ${t.rate_pps} sends no packet in a ${runSeconds} s run`,
        `raise rate_pps to at least ${Math.ceil((1 / runSeconds) * 100) / 100}`,
      );
    }
  });
  when(["rate_pps", "continuous", "scheduled", "method"], () => {
    if (runSeconds !== undefined) checkRunSize(t, runSeconds, ctx);
  });
  checkMethodLimits(t, ctx, when);
  when(["schedule", "method", "rate_pps", "continuous", "scheduled"], () => checkPoisson(t, runSeconds, ctx));
  when(["method", "packet_size_bytes", "family", "target"], () => {
    if (t.method === "stamp")
      checkStampSizeAt(t, stampFamily(t), "unauthenticated", ["packet_size_bytes"], ctx);
  });
  when(["to", "method"], () => {
    if (t.to !== undefined && (t.method === "tcp" || t.method === "http")) {
      issue(
        ctx,
        ["method"],
        `method ${t.method} cannot measure a site: sites only declare a STAMP reflector`,
        t.method === "tcp" ? "use target: tcp://HOST:PORT" : "use target: https://HOST/PATH",
      );
    }
  });
  when(["target"], () => {
    if (t.target !== undefined) checkTarget(t.target, t, ctx, when);
  });
  if (blocked.size > 0) {
    unchecked(ctx, [], `the rules of this test that read ${[...blocked].join(", ")}`);
  }
}

/**
 * Poisson sending is a truncated Poisson process confined to its run (probe/send-times.ts): the count
 * varies, so a run must expect enough packets that an empty or wildly short one cannot happen. (ping
 * cannot send Poisson at all: checkMethodLimits says so.) Runtime twin: send-times truncates.
 */
function checkPoisson(t: TestConfig, runSeconds: number | undefined, ctx: Ctx): void {
  if (t.schedule !== "poisson" || t.method === "icmp" || runSeconds === undefined) return;
  const expected = t.rate_pps * runSeconds;
  if (expected < MIN_POISSON_EXPECTED_PACKETS) {
    issue(
      ctx,
      ["schedule"],
      `a Poisson run of ${runSeconds} s at ${t.rate_pps} pps expects ${Math.round(expected * 100) / 100} packets; the count varies and needs at least ${MIN_POISSON_EXPECTED_PACKETS} expected`,
      `raise rate_pps to at least ${Math.ceil((MIN_POISSON_EXPECTED_PACKETS / runSeconds) * 100) / 100}, or use schedule: periodic`,
    );
  }
}

/** Twin of runner.checkRunSize and of ping's 16-bit icmp_seq (icmp.planPing). */
function checkRunSize(t: TestConfig, runSeconds: number, ctx: Ctx): void {
  // A rate the schema already refused (over its maximum) needs no second line.
  if (ctx.issues.some((i) => i.path?.[0] === "rate_pps")) return;
  const packets = Math.round(t.rate_pps * runSeconds);
  const what = t.continuous ? "continuous.interval_s" : "scheduled.duration_s";
  if (packets > MAX_RUN_PACKETS) {
    issue(
      ctx,
      ["rate_pps"],
      `rate_pps ${t.rate_pps} × ${what} ${runSeconds} = ${packets} packets in one run, more than the ${MAX_RUN_PACKETS} a run may hold in memory`,
      `at most ${Math.floor((MAX_RUN_PACKETS / runSeconds) * 100) / 100} pps for ${runSeconds} s runs, or shorter runs`,
    );
  } else if (t.method === "icmp" && packets > ICMP_MAX_COUNT) {
    issue(
      ctx,
      ["rate_pps"],
      `rate_pps ${t.rate_pps} × ${what} ${runSeconds} = ${packets} ICMP echoes in one run; ping counts at most ${ICMP_MAX_COUNT} (16-bit icmp_seq)`,
      `at most ${Math.floor((ICMP_MAX_COUNT / runSeconds) * 100) / 100} pps for ${runSeconds} s runs, or shorter runs`,
    );
  }
}

/** Config-time twins of what the ICMP, TCP and HTTP probers refuse at run time. */
function checkMethodLimits(t: TestConfig, ctx: Ctx, when: When): void {
  when(["method"], () => methodLimits(t, ctx, when));
}

function methodLimits(t: TestConfig, ctx: Ctx, when: When): void {
  if (t.method === "icmp") {
    when(["schedule"], () => {
      if (t.schedule !== "periodic") {
        issue(
          ctx,
          ["schedule"],
          "ICMP tests run the system ping, which can only send periodically",
          "set schedule: periodic for icmp tests (poisson is available for stamp)",
        );
      }
    });
    when(["rate_pps"], () => {
      if (t.rate_pps > ICMP_MAX_RATE_PPS) {
        issue(
          ctx,
          ["rate_pps"],
          `rate_pps ${t.rate_pps} is a ${Math.round((1000 / t.rate_pps) * 1000) / 1000} ms gap; ping allows a non-root user ${ICMP_MIN_USER_INTERVAL_MS} ms at least`,
          `use rate_pps ${ICMP_MAX_RATE_PPS} or less for icmp tests`,
        );
      }
    });
    when(["packet_size_bytes", "target"], () => {
      const family = t.target !== undefined ? targetFamily(t.target) : 4;
      checkIcmpSize(t, family, ["packet_size_bytes"], ctx);
    });
  }
  when(["dscp"], () => {
    if ((t.method === "tcp" || t.method === "http") && t.dscp !== 0) {
      issue(
        ctx,
        ["dscp"],
        `${t.method} probes cannot set DSCP ${t.dscp}: Node sockets expose no IP_TOS`,
        `set dscp: 0 for ${t.method} tests; measure a marked class with stamp (Linux, kernel socket) or icmp`,
      );
    }
  });
}

/**
 * Twin of resolve.resolveHost's literal check (and of `test --family`): a test's `family` that
 * contradicts the address literal it measures would be refused (ICMP, TCP, HTTP) or ignored (STAMP).
 */
function checkFamily(t: TestConfig, host: string, what: string, path: Path, ctx: Ctx): void {
  const literal = literalFamilyConflict(host, t.family);
  if (literal === undefined) return;
  issue(
    ctx,
    path,
    `family ${t.family} contradicts ${what}: ${host} is an IPv${literal} address`,
    `remove family, or measure an IPv${t.family} address or a host name that resolves to one`,
  );
}

/** Twin of icmp.planPing's size check; `family` 6 when the target is an IPv6 literal. */
function checkIcmpSize(t: TestConfig, family: 4 | 6, path: Path, ctx: Ctx): void {
  const min = ICMP_MIN_PACKET_BYTES[family];
  if (t.packet_size_bytes < min) {
    issue(
      ctx,
      path,
      `packet_size_bytes ${t.packet_size_bytes} does not fit an IPv${family} ICMP echo (${min} bytes at least: ${ICMP_OVERHEAD_BYTES[family]} of headers + the ${ICMP_MIN_PAYLOAD_BYTES} payload bytes ping times replies with)`,
      `use at least ${min}${family === 4 ? ` (${ICMP_MIN_PACKET_BYTES[6]} if the host resolves to IPv6)` : ""}`,
    );
  }
}

/**
 * Twin of limits.checkStampSize, the STAMP sender's refusal of a size its packet cannot have (below the
 * mode's base packet, above the largest datagram a reflector takes), at `path`.
 */
function checkStampSizeAt(
  t: TestConfig,
  family: 4 | 6,
  mode: keyof typeof STAMP_BASE_BYTES,
  path: Path,
  ctx: Ctx,
  why = "",
): void {
  const { min, max } = stampPacketBytes(family, mode);
  const headers = IP_UDP_OVERHEAD_BYTES[family];
  if (t.packet_size_bytes < min) {
    issue(
      ctx,
      path,
      `packet_size_bytes ${t.packet_size_bytes} is below the smallest ${mode} STAMP test packet over IPv${family} (${min} bytes: ${STAMP_BASE_BYTES[mode]} STAMP + ${headers} IP and UDP headers)${why}`,
      stampSizeHint(),
    );
  } else if (t.packet_size_bytes > max) {
    issue(
      ctx,
      path,
      `packet_size_bytes ${t.packet_size_bytes} is above the largest STAMP test packet a reflector takes over IPv${family} (${max} bytes: a ${STAMP_MAX_DATAGRAM_BYTES}-byte datagram + ${headers} IP and UDP headers)`,
      `${stampSizeHint()}${family === 4 && t.family === undefined ? "; a test without family is checked as IPv4 (family: 6 for IPv6 sizes)" : ""}`,
    );
  }
}

/** The family a STAMP test is judged in before its peer is known: family, an IPv6 target literal, else 4. */
function stampFamily(t: TestConfig): 4 | 6 {
  return t.family ?? (t.target !== undefined ? targetFamily(t.target) : 4);
}

function targetFamily(text: string): 4 | 6 {
  try {
    return isIP(parseTarget(text).host) === 6 ? 6 : 4;
  } catch {
    return 4; // the target's own issue is reported by checkTarget
  }
}

function checkTarget(text: string, t: TestConfig, ctx: Ctx, when: When): void {
  let method: string;
  let host: string;
  try {
    ({ method, host } = parseTarget(text));
  } catch (err) {
    const e = err instanceof QosProbeError ? err : undefined;
    issue(ctx, ["target"], e?.message ?? String(err), e?.hint);
    return;
  }
  when(["family"], () => checkFamily(t, host, `the target "${text}"`, ["family"], ctx));
  when(["method"], () => {
    if (method !== t.method) {
      issue(
        ctx,
        ["target"],
        `target "${text}" is a ${method} target but method is ${t.method}`,
        `set method: ${method}, or write the target as ${t.method}://…`,
      );
    }
  });
  // With both to and target given, the "not both" issue already says what to fix.
  when(["diagnostic", "to", "profile"], () => {
    if (!t.diagnostic && t.to === undefined) {
      issue(
        ctx,
        ["target"],
        `a raw target has no peer site, so it cannot satisfy the spec 3.2.2 pair rule (profile ${t.profile})`,
        `use to: SITE_ID (a site in another province over ${PAIR_MIN_DISTANCE_KM} km away), or set diagnostic: true`,
      );
    }
  });
}

export function checkMqtt(m: MqttSection, ctx: Ctx): void {
  let url: URL | undefined;
  try {
    url = new URL(m.url);
  } catch {
    return; // the url field's own check reports it
  }
  if (url.username !== "" || url.password !== "") {
    issue(
      ctx,
      ["url"],
      "credentials written inline in the URL (not shown); secrets are references only",
      "remove them from the URL and use username: { env: NAME }, password: { file: PATH }",
    );
  }
  if ((m.tls?.cert_file === undefined) !== (m.tls?.key_file === undefined)) {
    issue(
      ctx,
      ["tls"],
      "cert_file and key_file go together",
      "give both for client certificates, or neither",
    );
  }
}

/** An issue at the root saying "not an object" leaves nothing for the cross-field rules to read. */
export function hasRootTypeError(
  issues: readonly { path?: PropertyKey[] | undefined; code?: string }[],
): boolean {
  return issues.some((i) => (i.path ?? []).length === 0 && i.code === "invalid_type");
}

function knownSitesHint(word: string, ids: Iterable<string>): string {
  const all = [...ids];
  const near = closest(word, all);
  const list = all.length > 8 ? `${all.slice(0, 8).join(", ")}, …` : all.join(", ");
  return `${near ? `did you mean "${near}"? ` : ""}known sites: ${list}`;
}

/**
 * Rules across sections. Runs even when parts of the file failed (so one pass reports everything):
 * entries with their own issues are skipped, except that any site with a string id counts as known.
 */
export function checkRoot(cfg: AgentConfigParsed, ctx: Ctx): void {
  const broken = (prefix: Path): boolean =>
    ctx.issues.some((i) => prefix.every((seg, n) => (i.path ?? [])[n] === seg));
  const brokenArray = (key: string): boolean =>
    ctx.issues.some((i) => (i.path ?? []).length === 1 && i.path?.[0] === key);
  const sites: unknown[] = Array.isArray(cfg.sites) && !brokenArray("sites") ? cfg.sites : [];
  const siteIndex = new Map<string, number>();
  sites.forEach((s, i) => {
    const id = (s as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string") return;
    const first = siteIndex.get(id);
    if (first === undefined) siteIndex.set(id, i);
    else issue(ctx, ["sites", i, "id"], `duplicate site id "${id}"`, `first defined at sites[${first}]`);
  });
  // A site with errors only in values the pair rule does not read (a misspelt optional key, a bad
  // device_key) is still checked; one whose position, operator or reflector failed is not.
  const cleanSite = (id: string): PairSite => {
    const i = siteIndex.get(id);
    if (i === undefined) return undefined;
    if (!broken(["sites", i])) return cfg.sites[i];
    if (PAIR_SITE_KEYS.some((k) => broken(["sites", i, k]))) return { blocked: `sites[${i}]` };
    return withCapital(cfg.sites[i] as Site);
  };
  const agentSite = (cfg.agent as { site?: unknown } | undefined)?.site;
  if (typeof agentSite === "string" && !broken(["agent", "site"]) && !siteIndex.has(agentSite)) {
    issue(ctx, ["agent", "site"], `unknown site "${agentSite}"`, knownSitesHint(agentSite, siteIndex.keys()));
  }

  const tests: unknown[] = Array.isArray(cfg.tests) && !brokenArray("tests") ? cfg.tests : [];
  const testIndex = new Map<string, number>();
  tests.forEach((raw, i) => {
    const id = (raw as { id?: unknown } | undefined)?.id;
    if (typeof id === "string") {
      const first = testIndex.get(id);
      if (first === undefined) testIndex.set(id, i);
      else issue(ctx, ["tests", i, "id"], `duplicate test id "${id}"`, `first defined at tests[${first}]`);
    }
    // Site references are checked even in a test with other problems: they are cheap to fix together.
    for (const key of ["from", "to"] as const) {
      const ref = (raw as Record<string, unknown> | undefined)?.[key];
      if (typeof ref === "string" && !broken(["tests", i, key]) && !siteIndex.has(ref)) {
        issue(ctx, ["tests", i, key], `unknown site "${ref}"`, knownSitesHint(ref, siteIndex.keys()));
      }
    }
    // The pair rule reads these values of the test; a rule finding elsewhere in it does not stop it.
    const t = raw as TestConfig;
    const bad = PAIR_TEST_KEYS.filter((key) =>
      ctx.issues.some((iss) => iss.code !== "custom" && sameStart(iss.path, ["tests", i, key])),
    );
    if (bad.length === 0) checkTestPair(t, i, cleanSite, ctx);
    else if (typeof t?.to === "string" && typeof t?.from === "string") {
      const reads = bad.map((key) => `tests[${i}].${key}`).join(", ");
      unchecked(ctx, ["tests", i, "to"], `the pair rule for ${t.from} → ${t.to}, which reads ${reads}`);
    }
  });
}

/** Values of a test the pair rule reads (checkTestPair). */
const PAIR_TEST_KEYS = ["from", "to", "method", "packet_size_bytes", "diagnostic", "family"] as const;
/** Values of a site the pair rule reads. */
const PAIR_SITE_KEYS = ["id", "operator", "province", "latitude", "longitude", "reflector", "stamp_key"];

/** A site for the pair rule: parsed, blocked by its own errors, or unknown (reported already). */
type PairSite = Site | { blocked: string } | undefined;

function sameStart(path: readonly PropertyKey[] | undefined, prefix: readonly PropertyKey[]): boolean {
  return prefix.every((seg, n) => (path ?? [])[n] === seg);
}

/**
 * A site's defaults from its province (city and coordinates of the capital): SiteSchema's transform,
 * also applied here to a site whose transform did not run because of an error the pair rule ignores.
 */
export function withCapital<
  S extends { province: string; city?: string; latitude?: number; longitude?: number },
>(site: S): S & { city: string; latitude: number; longitude: number } {
  const capital = findProvince(site.province)?.capital;
  return {
    ...site,
    city: site.city ?? capital?.en ?? site.province,
    latitude: site.latitude ?? capital?.latitude ?? 0,
    longitude: site.longitude ?? capital?.longitude ?? 0,
  };
}

function checkTestPair(t: TestConfig, i: number, cleanSite: (id: string) => PairSite, ctx: Ctx): void {
  if (t.to === undefined) return;
  if (t.to === t.from) {
    issue(ctx, ["tests", i, "to"], `test joins site "${t.from}" to itself`, "pick another site as to");
    return;
  }
  const a = cleanSite(t.from);
  const b = cleanSite(t.to);
  if (a === undefined || b === undefined) return; // an unknown site: said already
  if ("blocked" in a || "blocked" in b) {
    const which = [a, b].flatMap((s) => ("blocked" in s ? [s.blocked] : [])).join(" and ");
    unchecked(ctx, ["tests", i, "to"], `the pair rule for ${t.from} → ${t.to}, which reads ${which}`);
    return;
  }
  checkFamily(t, b.reflector.host, `site "${b.id}"'s reflector.host`, ["tests", i, "family"], ctx);
  // checkTest judged a STAMP size as unauthenticated over the test's family (IPv4 when unknown): a peer
  // with a stamp_key, or a reflector.host that is an IPv6 literal, needs the bigger minimum.
  if (t.method === "stamp") {
    const family = t.family ?? (isIP(b.reflector.host) === 6 ? 6 : 4);
    const mode = b.stamp_key !== undefined ? "authenticated" : "unauthenticated";
    const judged = stampPacketBytes(stampFamily(t), "unauthenticated");
    const fits = t.packet_size_bytes >= judged.min && t.packet_size_bytes <= judged.max;
    if (fits && (mode === "authenticated" || family !== stampFamily(t))) {
      const why = mode === "authenticated" ? `; site "${b.id}" has a stamp_key` : "";
      checkStampSizeAt(t, family, mode, ["tests", i, "packet_size_bytes"], ctx, why);
    }
  }
  // A site reached over IPv6 needs the bigger minimum; checkTest judged a `to` test as IPv4 (and has
  // said so already if the size fails even that).
  const v6 = isIP(b.reflector.host) === 6;
  if (t.method === "icmp" && v6 && t.packet_size_bytes >= ICMP_MIN_PACKET_BYTES[4]) {
    checkIcmpSize(t, 6, ["tests", i, "packet_size_bytes"], ctx);
  }
  if (t.diagnostic) return;
  if (a.operator !== b.operator) {
    issue(
      ctx,
      ["tests", i, "to"],
      `test joins operator ${a.operator} to operator ${b.operator}; spec 3.2.2 measures between two access points of one operator`,
      `pick a site of operator ${a.operator}, or set diagnostic: true`,
    );
  }
  const pair = checkPair(a, b);
  if (!pair.ok) {
    const why = [
      ...(pair.different_provinces ? [] : [`both in ${findProvince(a.province)?.en ?? a.province}`]),
      ...(pair.over_1000_km ? [] : [`only ${Math.round(pair.distance_km)} km apart`]),
    ].join(" and ");
    issue(
      ctx,
      ["tests", i, "to"],
      `${t.from} → ${t.to} breaks the spec 3.2.2 pair rule (different provinces, over ${PAIR_MIN_DISTANCE_KM} km): ${why}`,
      `pick a site in another province over ${PAIR_MIN_DISTANCE_KM} km away, or set diagnostic: true`,
    );
  }
}

/**
 * Where the reflector binds, as "host:port". The advertised address (sites[].reflector.host) is what
 * peers send to; behind NAT it is not a local address and binding it fails with EADDRNOTAVAIL, so the
 * bind address is its own setting: absent → every address (dual-stack "::" when the site advertises
 * IPv6), a bare IP → that IP on the advertised port.
 */
/** A bare IP literal (`0.0.0.0`, `::`, `[::]`): listen on it at the advertised port. */
export function parseListenHost(text: string): string | undefined {
  const host = text.replace(/^\[(.*)\]$/, "$1");
  return isIP(host) !== 0 ? host : undefined;
}

export function reflectorListen(listen: string | undefined, own: Site): string {
  const port = own.reflector.port;
  if (listen === undefined) return isIP(own.reflector.host) === 6 ? `[::]:${port}` : `0.0.0.0:${port}`;
  const host = parseListenHost(listen);
  if (host === undefined) return listen;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Defaults that depend on other sections: the reflector address and the MQTT client id. */
// The outbox bound follows the tests: see outbox-size.ts.
export function fillDerived(cfg: AgentConfigParsed) {
  // checkRoot guarantees agent.site names a site; the transform only runs on a clean parse.
  const own = cfg.sites.find((s) => s.id === cfg.agent.site) as Site;
  const reflector = { ...cfg.reflector, listen: reflectorListen(cfg.reflector.listen, own) };
  const { mqtt, ...rest } = cfg;
  const ownTests = cfg.tests.filter((t) => t.from === cfg.agent.site);
  const outbox = {
    ...cfg.outbox,
    max_bytes: cfg.outbox.max_bytes ?? defaultOutboxBytes(ownTests, cfg.outbox.max_age_s),
    /** The bound was derived from the tests (not written in the file). */
    max_bytes_derived: cfg.outbox.max_bytes === undefined,
  };
  return {
    ...rest,
    outbox,
    reflector,
    ...(mqtt ? { mqtt: { ...mqtt, client_id: mqtt.client_id ?? `qosprobe-${own.operator}-${own.id}` } } : {}),
  };
}
