import { isMap, parseDocument } from "yaml";
import { parseConfig } from "../config/load.js";
import type { AgentConfig } from "../config/schema.js";
import type { VerifiedConfig } from "./envelope.js";

/**
 * One signed mesh serves every agent; the local bootstrap file says who this agent is and how it
 * reaches the broker. The sections below are always the bootstrap's: a pushed configuration cannot
 * rename the agent, move its data, point it at another broker or change which keys it trusts.
 * Everything else (sites, tests, reflector, heartbeat, outbox) is the regulator's.
 */
export const LOCAL_SECTIONS = ["agent", "mqtt", "embedded_broker", "control"] as const;

/**
 * The configuration an agent runs from a verified mesh: the mesh YAML with the local sections put in
 * and `config_version` set to the envelope's, validated exactly as `qos-probe validate` does (same
 * schema, same rules). `${ENV}` references in the mesh are not expanded from the agent's environment
 * (an empty environment is used): a pushed file must not be able to copy the agent's variables into a
 * probe target. Throws ConfigError listing every problem.
 */
export function effectiveConfig(
  verified: VerifiedConfig,
  bootstrap: AgentConfig,
  label: string,
): AgentConfig {
  const text = verified.yaml.toString("utf8");
  const doc = parseDocument(text, { uniqueKeys: true });
  // A mesh that does not parse as a mapping: let the loader report it with its lines.
  if (doc.errors.length > 0 || !isMap(doc.contents)) return parseConfig(text, label, {});
  for (const key of LOCAL_SECTIONS) {
    const local = bootstrap[key];
    if (local === undefined) doc.delete(key);
    else doc.set(key, doc.createNode(local));
  }
  doc.set("config_version", String(verified.config_version));
  return parseConfig(String(doc), label, {});
}
