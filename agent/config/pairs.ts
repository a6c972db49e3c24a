import { formatTarget, parseTarget, type Target } from "../probe/target.js";
import { checkPair, type PairCheck } from "./geo.js";
import type { AgentConfig, Site, TestConfig } from "./schema.js";

/** What one configured test measures: the address to probe and, towards a site, the pair it forms. */
export interface TestPlan {
  test: TestConfig;
  from: Site;
  target: Target;
  /** Canonical text of the target, as recorded in results. */
  target_text: string;
  /** Set when the test joins two sites (`to`), absent for a raw `target`. */
  peer?: Site;
  pair?: PairCheck;
}

/**
 * Resolve a test of a validated configuration. A site is reached at its STAMP reflector; ICMP goes to
 * the same host (the access point's address). Validation guarantees the sites exist and the target
 * parses, so a miss here is a programming error.
 */
export function describeTest(config: AgentConfig, test: TestConfig): TestPlan {
  const from = siteById(config, test.from);
  if (test.to === undefined) {
    const target = parseTarget(test.target ?? "");
    return { test, from, target, target_text: formatTarget(target) };
  }
  const peer = siteById(config, test.to);
  const target: Target =
    test.method === "stamp"
      ? { method: "stamp", host: peer.reflector.host, port: peer.reflector.port }
      : { method: test.method, host: peer.reflector.host };
  return { test, from, target, target_text: formatTarget(target), peer, pair: checkPair(from, peer) };
}

/** The tests this agent runs: those whose `from` is its own site. */
export function ownTests(config: AgentConfig): TestPlan[] {
  return config.tests.filter((t) => t.from === config.agent.site).map((t) => describeTest(config, t));
}

export function siteById(config: AgentConfig, id: string): Site {
  const site = config.sites.find((s) => s.id === id);
  if (!site) throw new Error(`site "${id}" missing from a validated configuration`);
  return site;
}
