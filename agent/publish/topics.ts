import { QosProbeError } from "../errors.js";

/**
 * The MQTT topic contract (DESIGN.md, "Wire contract"):
 *   {root}/{operator}/{province}/{site}/result/{testId}   results, QoS 1
 *   {root}/{operator}/{province}/{site}/status            retained heartbeat / Last Will
 *   {root}/{operator}/{province}/{site}/receipt           store receipts from the collector, QoS 1
 *   {root}/{operator}/{province}/{site}/config            retained signed configuration
 *   {root}/{operator}/{province}/{site}/config/ack        accepted / rejected
 * Every segment is one topic level, so `/`, the wildcards `+` and `#` (MQTT 3.1.1 §4.7.1, MQTT 5 §4.7.1)
 * and NUL (forbidden in topic names, §4.7.3) are refused where ids are turned into topics.
 */

export const DEFAULT_TOPIC_ROOT = "qosprobe/v1";
export const DEFAULT_SHARE_GROUP = "collectors";

export interface SiteTopics {
  root: string;
  operator: string;
  province: string;
  site: string;
}

export type ParsedTopic =
  | ({ kind: "result"; testId: string } & SiteTopics)
  | ({ kind: "status" | "receipt" | "config" | "config-ack" } & SiteTopics);

/** Why `value` cannot be one topic level, or null when it can. Usable from config validation. */
export function topicSegmentProblem(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (value.includes("/")) return "must not contain '/' (it would add a topic level)";
  if (value.includes("+") || value.includes("#")) return "must not contain the MQTT wildcards '+' or '#'";
  if (value.includes("\u0000")) return "must not contain NUL";
  return null;
}

function checkSegment(what: string, value: string): string {
  const problem = topicSegmentProblem(value);
  if (problem) {
    throw new QosProbeError("MQTT", `topic ${what} ${JSON.stringify(value)} ${problem}`, {
      hint: "use letters, digits, '-' and '_' in site, operator, province and test ids",
    });
  }
  return value;
}

/** The root may span several levels (`qosprobe/v1`); each level follows the segment rules. */
function checkRoot(root: string): string {
  for (const level of root.split("/")) checkSegment("root level", level);
  // Topics starting with '$' are reserved for the broker (MQTT 5 §4.7.2).
  if (root.startsWith("$"))
    throw new QosProbeError("MQTT", `topic root ${JSON.stringify(root)} must not start with '$'`);
  return root;
}

function sitePrefix(site: SiteTopics): string {
  return [
    checkRoot(site.root),
    checkSegment("operator", site.operator),
    checkSegment("province", site.province),
    checkSegment("site", site.site),
  ].join("/");
}

export function resultTopic(site: SiteTopics, testId: string): string {
  return `${sitePrefix(site)}/result/${checkSegment("test id", testId)}`;
}

export function statusTopic(site: SiteTopics): string {
  return `${sitePrefix(site)}/status`;
}

/** Where the collector tells this agent which of its seqs are in the store (agent/publish/receipts.ts). */
export function receiptTopic(site: SiteTopics): string {
  return `${sitePrefix(site)}/receipt`;
}

export function configTopic(site: SiteTopics): string {
  return `${sitePrefix(site)}/config`;
}

export function configAckTopic(site: SiteTopics): string {
  return `${sitePrefix(site)}/config/ack`;
}

/** The collectors' MQTT 5 shared subscription to every site's results. */
export function collectorSubscription(
  root: string = DEFAULT_TOPIC_ROOT,
  group: string = DEFAULT_SHARE_GROUP,
): string {
  return `$share/${checkSegment("share group", group)}/${checkRoot(root)}/+/+/+/result/+`;
}

/** Read a topic under `root` back into its parts; null when it is not one of the contract's topics. */
export function parseTopic(root: string, topic: string): ParsedTopic | null {
  const prefix = `${checkRoot(root)}/`;
  if (!topic.startsWith(prefix)) return null;
  const levels = topic.slice(prefix.length).split("/");
  const [operator, province, site, kind, ...rest] = levels;
  if (operator === undefined || province === undefined || site === undefined || kind === undefined)
    return null;
  if ([operator, province, site, ...rest].some((level) => topicSegmentProblem(level) !== null)) return null;
  const base = { root, operator, province, site };
  if (kind === "result" && rest.length === 1 && rest[0] !== undefined)
    return { kind: "result", testId: rest[0], ...base };
  if (kind === "status" && rest.length === 0) return { kind: "status", ...base };
  if (kind === "receipt" && rest.length === 0) return { kind: "receipt", ...base };
  if (kind === "config" && rest.length === 0) return { kind: "config", ...base };
  if (kind === "config" && rest.length === 1 && rest[0] === "ack") return { kind: "config-ack", ...base };
  return null;
}
