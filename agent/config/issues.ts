import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type YAMLError } from "yaml";
import * as z from "zod";
import type { ConfigIssue, UncheckedRule } from "../errors.js";
import { SecretRef } from "./schema.js";
import { closest } from "./suggest.js";

/**
 * Turning zod and YAML problems into `file: path: message (hint)` lines that point at a line and
 * column of the file the user wrote, with the fix when we know it.
 */

export type IssuePath = readonly PropertyKey[];

/** ["tests", 2, "to"] → "tests[2].to" */
export function formatPath(path: IssuePath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Where a path lands in the YAML: the value's node, or for `keyOnly` the key itself. */
function locate(doc: Document, path: IssuePath, keyOnly: boolean): number | undefined {
  let node: unknown = doc.contents;
  let offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
  for (const [n, seg] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) return offset;
      const last = n === path.length - 1;
      next = (last && keyOnly) || pair.value === null ? pair.key : pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      next = node.items[seg];
    }
    const start = (next as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (start === undefined) return offset;
    node = next;
    offset = start;
  }
  return offset;
}

/** " at line L:C" for the value at `path`, or "" when the file has no such place. */
export function whereIs(doc: Document, lines: LineCounter, path: IssuePath): string {
  return at(lines, locate(doc, path, false));
}

function at(lines: LineCounter, offset: number | undefined): string {
  if (offset === undefined) return "";
  const { line, col } = lines.linePos(offset);
  return ` at line ${line}:${col}`;
}

/** The schema that validates the value at `path`, seen through optional/default/pipe wrappers. */
function schemaAt(root: z.ZodType, path: IssuePath): z.ZodType | undefined {
  let s: z.ZodType | undefined = unwrap(root);
  for (const seg of path) {
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return undefined;
    s = s === undefined ? undefined : unwrap(s);
  }
  return s;
}

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      s = s.unwrap() as z.ZodType;
    } else return s;
  }
}

/** Zod's words for a missing key ("expected string, received undefined") say less than ours. */
export const configErrorMap: z.core.$ZodErrorMap = (iss) =>
  iss.code === "invalid_type" && iss.input === undefined ? "required key is missing" : undefined;

export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  ctx: { file: string; doc: Document; lines: LineCounter; schema: z.ZodType },
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      // One line per key: each has its own position and its own near miss.
      const target = schemaAt(ctx.schema, iss.path);
      const known = target instanceof z.ZodObject ? Object.keys(target.shape) : [];
      for (const key of iss.keys) {
        const path = [...iss.path, key];
        const near = closest(key, known);
        out.push({
          file: ctx.file,
          path: formatPath(path),
          message: `unknown key "${key}"${at(ctx.lines, locate(ctx.doc, path, true))}`,
          hint: near ? `did you mean "${near}"?` : `known keys: ${known.join(", ")}`,
        });
      }
      continue;
    }
    if (iss.code === "custom" && (iss.params as { unchecked?: unknown } | undefined)?.unchecked === true) {
      continue; // not a problem: collected by uncheckedRules
    }
    const hint = hintFor(iss, ctx.schema);
    out.push({
      file: ctx.file,
      path: formatPath(iss.path),
      message: `${iss.message}${at(ctx.lines, locate(ctx.doc, iss.path, false))}`,
      ...(hint ? { hint } : {}),
    });
  }
  return out;
}

function hintFor(iss: z.core.$ZodIssue, schema: z.ZodType): string | undefined {
  if (iss.code === "custom") {
    const hint = (iss.params as { hint?: unknown } | undefined)?.hint;
    return typeof hint === "string" ? hint : undefined;
  }
  if (iss.code === "invalid_union" && schemaAt(schema, iss.path) === SecretRef) {
    return "write { env: NAME } or { file: PATH }";
  }
  if (iss.path.length === 0 && iss.code === "invalid_type") {
    return "the file must be a YAML mapping starting with version: 1";
  }
  return undefined;
}

/** The rules the rule phase had to skip (rules.ts `unchecked`), in file order of their paths. */
export function uncheckedRules(issues: readonly z.core.$ZodIssue[]): UncheckedRule[] {
  return issues
    .filter(
      (i) => i.code === "custom" && (i.params as { unchecked?: unknown } | undefined)?.unchecked === true,
    )
    .map((i) => ({ path: formatPath(i.path), message: i.message }));
}

const YAML_HINTS: Partial<Record<string, string>> = {
  DUPLICATE_KEY: "each key may appear once per mapping",
  TAB_AS_INDENT: "indent with spaces, not tabs",
};

/**
 * Only the first YAML error is reported: after a syntax error the parser's later complaints are
 * mostly echoes of it (one unquoted `{` yields dozens), so they would bury the one line to fix.
 */
export function fromYamlErrors(errors: readonly YAMLError[], file: string, text: string): ConfigIssue[] {
  const e = errors[0];
  if (!e) return [];
  // The yaml library appends " at line L, column C:" and a code frame; keep the first clause only.
  const first = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
  const pos = e.linePos?.[0];
  const line = pos ? (text.split("\n")[pos.line - 1] ?? "") : "";
  const hint = line.includes("${")
    ? // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${ENV} syntax, shown to the user
      'quote a value holding ${…} inside { } or [ ]: "${NAME}"'
    : YAML_HINTS[e.code];
  return [
    {
      file,
      path: "",
      message: `YAML: ${first}${pos ? ` at line ${pos.line}:${pos.col}` : ""}`,
      ...(hint ? { hint } : {}),
    },
  ];
}
