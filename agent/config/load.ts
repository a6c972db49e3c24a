import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigIssue, QosProbeError } from "../errors.js";
import {
  configErrorMap,
  formatPath,
  fromYamlErrors,
  fromZodIssues,
  uncheckedRules,
  whereIs,
} from "./issues.js";
import { type AgentConfig, AgentConfigSchema } from "./schema.js";

/**
 * Configuration loading as a pure function of bytes (+ environment): the same path serves a file on
 * disk today and a regulator-signed payload from the control plane later. Every problem is collected
 * and thrown at once as a ConfigError, so one run of `validate` shows the whole list.
 */

type Env = Record<string, string | undefined>;

/** `${NAME}` or `${NAME:-default}` (default when unset or empty, as in POSIX shells). */
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expand `${ENV}` in string values (never in keys). Done on parsed values rather than raw text so an
 * expansion cannot inject YAML structure and positions in the file stay true.
 */
function expandEnv(
  value: unknown,
  env: Env,
  path: PropertyKey[],
  missing: PropertyKey[][],
  names: string[],
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (whole, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== "") return v;
      if (fallback !== undefined) return fallback;
      missing.push(path);
      names.push(name);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, i], missing, names));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, [...path, k], missing, names)]),
    );
  }
  return value;
}

function decode(bytes: string | Buffer, file: string): string {
  if (typeof bytes === "string") return bytes;
  try {
    // fatal: a mangled file is an error, not silently replaced characters; the decoder drops a BOM.
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError([{ file, path: "", message: "not valid UTF-8", hint: "save the file as UTF-8" }]);
  }
}

/** Parse and validate one configuration. Throws ConfigError listing every issue found. */
export function parseConfig(bytes: string | Buffer, file: string, env: Env = process.env): AgentConfig {
  return parseYamlConfig(AgentConfigSchema, bytes, file, env);
}

/**
 * The loading pipeline for any configuration schema (agent, collector): YAML with line:col errors,
 * `${ENV}` expansion, zod validation, every issue rendered `file: path: message (hint)`.
 */
export function parseYamlConfig<S extends z.ZodType>(
  schema: S,
  bytes: string | Buffer,
  file: string,
  env: Env = process.env,
): z.output<S> {
  const text = decode(bytes, file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(fromYamlErrors(doc.errors, file, text));

  let raw: unknown;
  try {
    // The alias cap stops "billion laughs" documents from expanding without bound.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([{ file, path: "", message: `YAML: ${(err as Error).message}` }]);
  }

  const missing: PropertyKey[][] = [];
  const names: string[] = [];
  const data = expandEnv(raw, env, [], missing, names);
  const envIssues: ConfigIssue[] = missing.map((path, i) => ({
    file,
    path: formatPath(path),
    message: `environment variable ${names[i]} is not set${whereIs(doc, lines, path)}`,
    hint: `set it, or give a default: \${${names[i]}:-VALUE}`,
  }));

  const result = schema.safeParse(data, { error: configErrorMap });
  // A value left as "${NAME}" fails its own checks too; the unset variable is the one thing to fix.
  const unexpanded = new Set(envIssues.map((i) => i.path));
  const zodIssues = result.success
    ? []
    : fromZodIssues(result.error.issues, { file, doc, lines, schema }).filter((i) => !unexpanded.has(i.path));
  const issues = [...envIssues, ...zodIssues];
  if (issues.length > 0 || !result.success) {
    throw new ConfigError(sortByLine(issues), result.success ? [] : uncheckedRules(result.error.issues));
  }
  return result.data;
}

/** File order reads best: issues with a position sorted by line and column, the rest first. */
function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  const key = (i: ConfigIssue): number => {
    const m = / at line (\d+):(\d+)/.exec(i.message);
    return m ? Number(m[1]) * 1e4 + Number(m[2]) : -1;
  };
  return issues
    .map((issue, n) => ({ issue, n, k: key(issue) }))
    .sort((a, b) => a.k - b.k || a.n - b.n)
    .map((x) => x.issue);
}

export function loadConfigFile(path: string, env: Env = process.env): AgentConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new QosProbeError("CONFIG_READ", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(bytes, path, env);
}

/** Short fingerprint of the exact bytes, echoed in heartbeats so a regulator sees which file runs. */
export function configHash(bytes: string | Buffer): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}
