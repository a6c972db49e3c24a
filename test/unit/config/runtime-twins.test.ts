import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../agent/config/load.js";
import { ConfigError, type ConfigIssue } from "../../../agent/errors.js";
import { targetUrl } from "../../../agent/probe/http.js";
import { pingFailure, planPing } from "../../../agent/probe/icmp.js";
import { checkPingSize, checkStampSize } from "../../../agent/probe/limits.js";
import type { ProbeSpec } from "../../../agent/probe/prober.js";
import { resolveHost } from "../../../agent/probe/resolve.js";
import { checkRunSize } from "../../../agent/probe/runner.js";
import { parseTarget } from "../../../agent/probe/target.js";
import { checkTcpSpec } from "../../../agent/probe/tcp.js";

/**
 * validate ≡ runtime (issue 10): every refusal the probers and the runner can make at run time is
 * either refused by `validate` at the same YAML path with a hint (a config twin), or is declared as
 * something no configuration can decide (the host, the network, a packet on the wire) with the reason.
 * The run-time checks are collected from the source — every `new QosProbeError(` under agent/probe and agent/net —
 * so a new run-time refusal without an entry here fails this test.
 */

type Twin = {
  /** The configuration that trips the check: a test entry override, or a YAML snippet appended. */
  test?: Record<string, unknown>;
  yaml?: string;
  /** The issue's YAML path as validate prints it. */
  path: string;
  /** The same condition at run time: must throw the site's code with a message containing `match`. */
  runtime?: () => unknown;
};

interface RuntimeCheck {
  file: string;
  /** A piece of the message literal at the throw site. */
  match: string;
  twin?: Twin;
  /** Why no configuration can decide it (absent when there is a twin). */
  not_config?: string;
}

const SPEC: ProbeSpec = {
  method: "icmp",
  host: "127.0.0.1",
  count: 10,
  interval_ms: 100,
  schedule: "periodic",
  packet_size_bytes: 128,
  dscp: 0,
  loss_timeout_ms: 1000,
};
const NET = "the host or network at run time (DNS, sockets, capabilities, binaries), not the file";
const WIRE = "a packet on the wire: counted and dropped per packet (RFC 8762 §4), not configuration";

const CHECKS: RuntimeCheck[] = [
  // target.ts — the same parser runs in validate (rules.checkTarget), so the twin is by construction.
  {
    file: "target.ts",
    match: "not a target URL",
    twin: { test: { target: "192.0.2.1" }, path: "tests[0].target", runtime: () => parseTarget("192.0.2.1") },
  },
  {
    file: "target.ts",
    match: "has no host",
    twin: { test: { target: "stamp://" }, path: "tests[0].target", runtime: () => parseTarget("stamp://") },
  },
  {
    file: "target.ts",
    match: "ICMP has no ports",
    twin: {
      test: { method: "icmp", target: "icmp://192.0.2.1:80" },
      path: "tests[0].target",
      runtime: () => parseTarget("icmp://192.0.2.1:80"),
    },
  },
  {
    file: "target.ts",
    match: "tcp target needs a port",
    twin: {
      test: { method: "tcp", target: "tcp://192.0.2.1" },
      path: "tests[0].target",
      runtime: () => parseTarget("tcp://192.0.2.1"),
    },
  },
  {
    file: "target.ts",
    match: "unknown target scheme",
    twin: {
      test: { target: "ftp://192.0.2.1" },
      path: "tests[0].target",
      runtime: () => parseTarget("ftp://192.0.2.1"),
    },
  },
  {
    file: "target.ts",
    match: "is not a port a probe can send to",
    twin: {
      test: { target: "stamp://192.0.2.1:0" },
      path: "tests[0].target",
      runtime: () => parseTarget("stamp://192.0.2.1:0"),
    },
  },
  {
    file: "target.ts",
    match: "is not a UDP/TCP port (1–65535)",
    twin: {
      test: { target: "stamp://192.0.2.1:99999" },
      path: "tests[0].target",
      runtime: () => parseTarget("stamp://192.0.2.1:99999"),
    },
  },
  {
    file: "target.ts",
    match: "not a listen address",
    twin: { yaml: 'reflector: { listen: "0.0.0.0:99999" }', path: "reflector.listen" },
  },
  // icmp.ts
  { file: "icmp.ts", match: "cannot run ping", not_config: NET },
  {
    file: "icmp.ts",
    match: "can only send periodically",
    twin: {
      test: { method: "icmp", schedule: "poisson" },
      path: "tests[0].schedule",
      runtime: () => planPing({ ...SPEC, schedule: "poisson" }, AbortSignal.abort()),
    },
  },
  {
    file: "icmp.ts",
    match: "ICMP count must be",
    twin: {
      test: { method: "icmp", rate_pps: 100, continuous: { interval_s: 900 } },
      path: "tests[0].rate_pps",
      runtime: () => planPing({ ...SPEC, count: 90_000 }, new AbortController().signal),
    },
  },
  {
    file: "limits.ts",
    match: "does not fit an IPv",
    twin: {
      test: { method: "icmp", packet_size_bytes: 30 },
      path: "tests[0].packet_size_bytes",
      runtime: () => checkPingSize(30, 4),
    },
  },
  {
    file: "icmp.ts",
    match: "this ping allows a non-root user",
    twin: {
      test: { method: "icmp", rate_pps: 1000 },
      path: "tests[0].rate_pps",
      runtime: () => {
        throw pingFailure("ping: cannot flood; minimal interval allowed for user is 2ms", {
          ...SPEC,
          interval_ms: 1,
        });
      },
    },
  },
  { file: "icmp.ts", match: "cannot resolve", not_config: NET },
  { file: "icmp.ts", match: "may not open an ICMP socket", not_config: NET },
  { file: "icmp.ts", match: "ping failed", not_config: NET },
  // resolve.ts
  {
    file: "resolve.ts",
    match: "address but family is",
    twin: {
      test: { method: "icmp", target: "icmp://192.0.2.1", family: 6 },
      path: "tests[0].family",
      runtime: () => resolveHost({ host: "192.0.2.1", family: 6 }, AbortSignal.timeout(1000)),
    },
  },
  { file: "resolve.ts", match: "cannot resolve", not_config: NET },
  // tcp.ts, http.ts
  {
    file: "tcp.ts",
    match: "needs a port 1..65535",
    twin: {
      test: { method: "tcp", target: "tcp://192.0.2.1" },
      path: "tests[0].target",
      runtime: () => checkTcpSpec({ ...SPEC, method: "tcp" }),
    },
  },
  {
    file: "tcp.ts",
    match: "cannot set DSCP",
    twin: {
      test: { method: "tcp", target: "tcp://192.0.2.1:443", dscp: 46 },
      path: "tests[0].dscp",
      runtime: () => checkTcpSpec({ ...SPEC, method: "tcp", port: 443, dscp: 46 }),
    },
  },
  {
    file: "http.ts",
    match: "not an http(s) URL",
    twin: {
      test: { method: "http", target: "https://[bad" },
      path: "tests[0].target",
      runtime: () => targetUrl({ url: "https://[bad", host: "" }),
    },
  },
  {
    file: "http.ts",
    match: "needs an http:// or https:// URL",
    twin: {
      test: { method: "http", target: "ftp://192.0.2.1/" },
      path: "tests[0].target",
      runtime: () => targetUrl({ url: "ftp://192.0.2.1/", host: "" }),
    },
  },
  // limits.ts (the STAMP sender's size check, before it opens a socket)
  {
    file: "limits.ts",
    match: "is below the smallest",
    twin: {
      test: { packet_size_bytes: 28 },
      path: "tests[0].packet_size_bytes",
      runtime: () => checkStampSize(28, 4, "unauthenticated"),
    },
  },
  {
    file: "limits.ts",
    match: "is above the largest STAMP test packet a reflector takes",
    twin: {
      test: { packet_size_bytes: 9300 },
      path: "tests[0].packet_size_bytes",
      runtime: () => checkStampSize(9300, 4, "unauthenticated"),
    },
  },
  // stamp/sender.ts
  { file: "sender.ts", match: "cannot resolve", not_config: NET },
  // net/dgram-udp.ts, net/kernel-udp.ts (the sockets behind the STAMP sender)
  { file: "dgram-udp.ts", match: "cannot open a UDP socket", not_config: NET },
  { file: "kernel-udp.ts", match: "cannot open a timestamped UDP socket", not_config: NET },
  {
    file: "dgram-udp.ts",
    match: "needs the kernel-timestamped socket",
    // Deliberately no validate refusal: the kernel-timestamped socket (issue 8) sets DSCP on STAMP
    // packets; only the dgram fallback cannot, and which one runs is decided on the host.
    not_config: "STAMP DSCP depends on the socket the host provides (kernel socket: yes; dgram fallback: no)",
  },
  {
    file: "sender.ts",
    match: "answered ICMP port unreachable",
    not_config: "the peer's reflector is down or on another port right now: a fault observed on the network",
  },
  { file: "sender.ts", match: "could not be sent", not_config: NET },
  {
    file: "sender.ts",
    match: "failed the HMAC check",
    not_config: "the two ends' keys differ: each key is a secret reference resolved on its own host",
  },
  // stamp/reflector-kernel.ts (the Session-Reflector on the kernel socket, main thread or worker)
  { file: "reflector-kernel.ts", match: "worker is not built", not_config: NET },
  { file: "reflector-kernel.ts", match: "cannot listen on", not_config: NET },
  { file: "reflector-kernel.ts", match: "reflector loop did not start", not_config: NET },
  // stamp/packet.ts
  { file: "packet.ts", match: "test packet of", not_config: WIRE },
  { file: "packet.ts", match: "authenticated test packet", not_config: WIRE },
  { file: "packet.ts", match: "reply needs", not_config: WIRE },
  { file: "packet.ts", match: "reply of", not_config: WIRE },
  { file: "packet.ts", match: "authenticated reply", not_config: WIRE },
  // stamp/reflector.ts, stamp/allowlist.ts
  {
    file: "reflector.ts",
    match: "needs an HMAC key",
    twin: { yaml: "reflector: { auth: { mode: authenticated } }", path: "reflector.auth.key" },
  },
  { file: "reflector.ts", match: "cannot listen on", not_config: NET },
  {
    file: "reflector.ts",
    match: "reflector is not started",
    not_config: "a programming error (address() before start()), not input",
  },
  {
    file: "allowlist.ts",
    match: "is not an address or CIDR",
    twin: { yaml: 'reflector: { allow: ["198.51.100.0/33"] }', path: "reflector.allow[0]" },
  },
  // runner.ts
  {
    file: "runner.ts",
    match: "packets is more than the",
    twin: {
      test: { rate_pps: 1000, continuous: undefined, scheduled: { cron: "0 * * * *", duration_s: 3600 } },
      path: "tests[0].rate_pps",
      runtime: () => checkRunSize({ count: 3_600_000 }),
    },
  },
];

interface Site {
  file: string;
  code: string;
  message: string;
}

/** Every `new QosProbeError("CODE", "message" | `message`` under agent/probe and agent/net, from the source text. */
function throwSites(): Site[] {
  const sites: Site[] = [];
  // agent/net holds the probers' sockets (issue 8): its refusals are run-time checks too.
  for (const dir of ["probe", "net"])
    sites.push(...throwSitesUnder(join(import.meta.dirname, "../../../agent", dir)));
  return sites;
}

function throwSitesUnder(root: string): Site[] {
  const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  const sites: Site[] = [];
  for (const f of files) {
    const text = readFileSync(join(root, f), "utf8");
    // ProbeFaultError (a QosProbeError with its own fault code) is a run-time refusal too.
    for (const m of text.matchAll(
      /new (?:QosProbeError|ProbeFaultError)\(\s*"(\w+)",\s*(["`])((?:\\.|(?!\2)[\s\S])*)\2/g,
    )) {
      sites.push({
        file: relative(root, join(root, f)).split("/").at(-1) ?? f,
        code: m[1] ?? "",
        message: m[3] ?? "",
      });
    }
  }
  return sites;
}

const BASE_TEST = {
  id: "t1",
  method: "stamp",
  from: "bj-01",
  to: "gz-01",
  rate_pps: 1,
  continuous: { interval_s: 60 },
};

function configWith(twin: Twin): string {
  const test: Record<string, unknown> = { ...BASE_TEST, ...twin.test };
  for (const [k, v] of Object.entries(test)) if (v === undefined) delete test[k];
  if (test.target !== undefined) {
    delete test.to;
    test.diagnostic = true;
  }
  return `version: 1
agent: { site: bj-01 }
sites:
  - { id: bj-01, operator: op, province: "110000", reflector: { host: 192.0.2.10 } }
  - { id: gz-01, operator: op, province: "440000", reflector: { host: 192.0.2.20 } }
tests:
  - ${JSON.stringify(test)}
${twin.yaml ?? ""}
`;
}

function issuesOf(yaml: string): ConfigIssue[] {
  try {
    parseConfig(yaml, "twin.yaml", {});
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

describe("validate ≡ runtime: every run-time refusal has a config-time twin", () => {
  const sites = throwSites();

  it("finds the run-time checks in the source", () => {
    expect(sites.length).toBeGreaterThanOrEqual(30);
  });

  it("has a registry entry for every run-time check under agent/probe (and no stale entry)", () => {
    const unregistered = sites.filter(
      (s) => !CHECKS.some((c) => c.file === s.file && s.message.includes(c.match)),
    );
    expect(unregistered.map((s) => `${s.file}: ${s.code} ${s.message}`)).toEqual([]);
    const stale = CHECKS.filter((c) => !sites.some((s) => c.file === s.file && s.message.includes(c.match)));
    expect(stale.map((c) => `${c.file}: ${c.match}`)).toEqual([]);
    for (const c of CHECKS)
      expect(Boolean(c.twin) !== Boolean(c.not_config), `${c.file}: ${c.match}`).toBe(true);
  });

  it("the twin refuses the base configuration's variant at its YAML path, with a hint", () => {
    expect(issuesOf(configWith({ path: "" }))).toEqual([]); // the base itself is valid
    for (const c of CHECKS) {
      if (!c.twin) continue;
      const issues = issuesOf(configWith(c.twin));
      const at = issues.filter((i) => i.path === c.twin?.path);
      expect(
        at.length,
        `${c.file}: ${c.match} → ${c.twin.path}; got ${JSON.stringify(issues)}`,
      ).toBeGreaterThan(0);
      expect(
        at.every((i) => (i.hint ?? "").length > 0),
        `${c.match}: hint`,
      ).toBe(true);
    }
  });

  it("the same condition really trips the run-time check", async () => {
    for (const c of CHECKS) {
      if (!c.twin?.runtime) continue;
      const site = sites.find((s) => s.file === c.file && s.message.includes(c.match));
      let thrown: unknown;
      try {
        await c.twin.runtime();
      } catch (err) {
        thrown = err;
      }
      const e = thrown as { code?: string; message?: string } | undefined;
      expect(e?.code, `${c.file}: ${c.match}`).toBe(site?.code);
      expect(e?.message ?? "", `${c.file}: ${c.match}`).toContain(c.match.replace(/\\/g, ""));
    }
  });
});

describe("family against an address literal (twin of resolveHost and of test --family)", () => {
  it("refuses family 6 for a site whose reflector.host is an IPv4 literal, at tests[0].family", () => {
    const issues = issuesOf(configWith({ test: { family: 6 }, path: "" }));
    expect(issues).toEqual([
      {
        file: "twin.yaml",
        path: "tests[0].family",
        message: `family 6 contradicts site "gz-01"'s reflector.host: 192.0.2.20 is an IPv4 address at line 7:114`,
        hint: "remove family, or measure an IPv6 address or a host name that resolves to one",
      },
    ]);
    expect(issuesOf(configWith({ test: { family: 4 }, path: "" }))).toEqual([]);
  });
});
