import { readFileSync } from "node:fs";
import * as z from "zod";
import { ConfigError, formatConfigIssue } from "../errors.js";
import { configHash, parseConfig } from "./load.js";
import { OUTBOX_BYTES_PER_RESULT, outboxDays, resultsPerSecond } from "./outbox-size.js";
import { describeTest, type TestPlan } from "./pairs.js";
import { findProvince } from "./provinces.js";
import { type AgentConfig, AgentConfigSchema } from "./schema.js";

/**
 * `qos-probe validate FILE` and `qos-probe schema` as text plus success, so the CLI only prints and
 * sets the exit code.
 */

export interface ValidateOutput {
  ok: boolean;
  text: string;
}

export function validateFile(
  path: string,
  env: Record<string, string | undefined> = process.env,
): ValidateOutput {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return {
      ok: false,
      text: formatConfigIssue({ file: path, path: "", message: `cannot read the file (${code})` }),
    };
  }
  let config: AgentConfig;
  try {
    config = parseConfig(bytes, path, env);
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, text: configErrorText(err) };
    throw err;
  }
  const summary =
    `${path}: valid: ${plural(config.sites.length, "site")}, ${plural(config.tests.length, "test")}, ` +
    `this agent is ${config.agent.site}` +
    `${config.config_version ? `, config_version ${config.config_version}` : ""}, sha256 ${configHash(bytes)}`;
  const text = `${summary}\n${outboxLine(config)}`;
  if (config.tests.length === 0) return { ok: true, text: `${text}\nno tests defined` };
  return { ok: true, text: `${text}\n${pairTable(config.tests.map((t) => describeTest(config, t)))}` };
}

/**
 * Every issue of both phases (schema, then rules), then the rules that could not run because a value
 * they read has an error above: those are promised, not passed.
 */
export function configErrorText(err: ConfigError): string {
  const file = err.issues[0]?.file ?? "";
  const unchecked = err.unchecked.map((u) =>
    formatConfigIssue({
      file,
      path: u.path,
      message: `not checked yet: ${u.message}`,
      hint: "fix the errors above and run validate again: more issues may follow",
    }),
  );
  return [...err.issues.map(formatConfigIssue), ...unchecked].join("\n");
}

/** How long the outbox holds this agent's results: the figure an operator sizes a disk by. */
export function outboxLine(config: AgentConfig): string {
  const o = config.outbox;
  const own = config.tests.filter((t) => t.from === config.agent.site);
  const rate = resultsPerSecond(own);
  const days = outboxDays(o.max_bytes, rate);
  const ageDays = o.max_age_s / 86_400;
  const mib = (o.max_bytes / (1 << 20)).toFixed(0);
  const holds = Number.isFinite(days)
    ? `holds ${days.toFixed(1)} days of results (${rate.toFixed(3)} results/s from ${plural(own.length, "test")}, ≈${OUTBOX_BYTES_PER_RESULT} B each)`
    : "no tests of this agent";
  const source = o.max_bytes_derived ? "derived from the tests" : "set in the file";
  const short =
    Number.isFinite(days) && days < ageDays
      ? `\nwarning: outbox.max_bytes holds less than max_age_s (${ageDays.toFixed(1)} days): during a long outage the oldest results are dropped (remove max_bytes to derive it)`
      : "";
  return (
    `outbox: max_bytes ${mib} MiB (${source}) ${holds}; max_age ${ageDays.toFixed(1)} days; ` +
    `receipts ${o.receipts}${o.receipts === "required" ? ` (republish after ${o.receipt_timeout_s} s)` : ""}${short}`
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function siteLabel(site: { id: string; province: string }): string {
  return `${site.id} (${findProvince(site.province)?.en ?? site.province})`;
}

/** ✔ the pair meets spec 3.2.2; diagnostic tests say so and show what the pair would score. */
function ruleCell(plan: TestPlan): string {
  const mark = plan.pair ? (plan.pair.ok ? " ✔" : " ✘") : "";
  if (plan.test.diagnostic) return `diagnostic${mark}`;
  return mark.trim() || "✘";
}

export function pairTable(plans: TestPlan[]): string {
  const rows = plans.map((p) => [
    p.test.id,
    p.test.method,
    siteLabel(p.from),
    p.peer ? siteLabel(p.peer) : p.target_text,
    p.pair ? String(Math.round(p.pair.distance_km)) : "–",
    ruleCell(p),
  ]);
  const header = ["test", "method", "from (province)", "to (province)", "km", "rule"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === 4 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** The input side of the schema: what a YAML author may write, for yaml-language-server completion. */
export function schemaJson(): string {
  const schema = z.toJSONSchema(AgentConfigSchema, { io: "input" });
  return JSON.stringify({ title: "qos-probe agent configuration, version 1", ...schema }, null, 2);
}
