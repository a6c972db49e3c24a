import type { ErrorObject } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import * as z from "zod";
import { RESULT_SCHEMA_ID, ResultMessage } from "../agent/publish/message.js";

export type Validation = { ok: true; message: ResultMessage } | { ok: false; reason: string };

/** What a result topic says about its sender: `{root}/{operator}/{province}/{site}/result/{testId}`. */
export interface ResultTopic {
  operator: string;
  province: string;
  site: string;
  testId: string;
}

/**
 * Read the sender from a result topic, from the end so that any root (`qosprobe/v1`, or a deeper one)
 * works. Null when the topic is not a result topic.
 */
export function parseResultTopic(topic: string): ResultTopic | null {
  // From the end, by lastIndexOf (no array of every segment per delivery): …/{operator}/{province}/{site}/result/{testId}.
  const ends: number[] = [topic.length];
  for (let i = 0; i < 5; i++) {
    const slash = topic.lastIndexOf("/", (ends[i] ?? 0) - 1);
    if (slash < 0) return null;
    ends.push(slash);
  }
  // ends[k] is the slash before the k-th segment from the end (a root, even empty, precedes the fifth).
  const seg = (k: number) => topic.slice((ends[k + 1] ?? 0) + 1, ends[k]);
  if (seg(1) !== "result") return null;
  const testId = seg(0);
  const site = seg(2);
  const province = seg(3);
  const operator = seg(4);
  if (!operator || !province || !site || !testId) return null;
  return { operator, province, site, testId };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The result schema (agent/publish/message.ts, zod) compiled by Ajv from zod's own JSON Schema of it:
 * one source of truth, checked ~20× faster than zod parses (bench:report: zod's safeParse was ~18 µs
 * of the collector's ~100 µs per result; Ajv's check of the same body ~1 µs), and without zod's copy
 * of every object, which doubled what the garbage collector had to sweep at 10,000 results/s.
 * The schema has no refinements or transforms, so JSON Schema says all of it (`unrepresentable:
 * "throw"` makes the build fail otherwise), formats included as patterns (validateFormats is off
 * because zod emits the pattern beside each format). Ajv's verdict is the one that counts: a body it
 * refuses goes to zod only for the reason a person reads (Ajv's own when zod would accept it: zod's
 * records skip a "__proto__" key); a test holds the two to the same verdict on valid results and on
 * mutations of them.
 */
export const checkResultSchema = new Ajv2020({
  strict: true,
  strictRequired: false,
  validateFormats: false,
}).compile(z.toJSONSchema(ResultMessage, { io: "input", unrepresentable: "throw" }));

/**
 * Decide whether one MQTT result payload may be stored. Never throws: every way a payload can be wrong
 * becomes a reason a person can act on. The topic is what the broker authorised the sender to publish
 * on, so a body that claims another site, operator or province is refused.
 */
export function validateResult(topic: string, payload: Uint8Array | string): Validation {
  const where = parseResultTopic(topic);
  if (!where) {
    return {
      ok: false,
      reason: `topic ${topic} is not a result topic ({root}/{operator}/{province}/{site}/result/{test})`,
    };
  }
  let text: string;
  try {
    text = typeof payload === "string" ? payload : utf8.decode(payload);
  } catch {
    return { ok: false, reason: "payload is not UTF-8 text" };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, reason: "payload is not a JSON object" };
  }
  // A newer agent's message is named as such rather than drowned in field-by-field errors.
  if ("schema" in body && body.schema !== RESULT_SCHEMA_ID) {
    const schema = typeof body.schema === "string" ? body.schema : JSON.stringify(body.schema);
    return { ok: false, reason: `unsupported schema ${schema}` };
  }
  // "\u0000" and lone surrogates ("\ud800") are valid JSON but PostgreSQL's jsonb refuses them, and
  // RFC 8785 (the evidence digest) has no bytes for a lone surrogate: such a result could never be
  // stored, and in a batch it failed the whole INSERT on every retry, stalling ingest for everyone.
  // Only an escape can carry them (the UTF-8 decode above is fatal, raw control characters are not JSON),
  // so ordinary payloads pay one indexOf.
  if (text.includes("\\u")) {
    const path = unstorableString(body, []);
    if (path !== null)
      return {
        ok: false,
        reason: `${path}: a NUL character (\\u0000) or a lone UTF-16 surrogate cannot be stored (PostgreSQL jsonb) or signed (RFC 8785); send well-formed text`,
      };
  }
  if (!checkResultSchema(body)) {
    const parsed = ResultMessage.safeParse(body);
    if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
    // Ajv's verdict stands where zod would accept: zod's records skip a "__proto__" key whatever its
    // value (JSON.parse makes it an own key), so zod's output is not the text that would be stored,
    // and a signature verified over that output does not cover the stored bytes.
    return { ok: false, reason: ajvReason(checkResultSchema.errors) };
  }
  const msg = body as ResultMessage;
  for (const [field, inTopic, inBody] of [
    ["site", where.site, msg.agent.site],
    ["operator", where.operator, msg.agent.operator],
    ["province", where.province, msg.agent.province],
    // The test id too: a result filed under another test's topic would land in that test's rollup.
    ["test", where.testId, msg.test.id],
  ] as const) {
    if (inTopic !== inBody) {
      const bodyField = field === "test" ? "test.id" : `agent.${field}`;
      return { ok: false, reason: `topic ${field} ${inTopic} does not match ${bodyField} ${inBody}` };
    }
  }
  // The message is the parsed body itself (Ajv checks without copying): the text received is this
  // message's JSON, and the store can send it as it is.
  receivedJson.set(msg, text);
  return { ok: true, message: msg };
}

/** Ajv's first error as `path: message` (JSON Pointer path, "/" for the whole message). */
function ajvReason(errors: readonly ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return "the message does not match the result schema";
  return `${e.instancePath || "/"}: ${e.message ?? "does not match the result schema"}`;
}

const receivedJson = new WeakMap<object, string>();

/**
 * The JSON text this message was validated from (validateResult), or JSON.stringify of it when it was
 * made otherwise. Both parse to the same value: the store's jsonb payload is the same either way, and
 * re-serializing each message cost ~10 µs of the collector's per-result time (bench:report).
 */
export function messageJson(message: ResultMessage): string {
  return receivedJson.get(message) ?? JSON.stringify(message);
}

/** The JSON text this message was validated from (validateResult), undefined when made otherwise. */
export function receivedText(message: ResultMessage): string | undefined {
  return receivedJson.get(message);
}

/** NUL, or a UTF-16 surrogate not in a pair (with the u flag, a pair reads as one astral code point). */
const UNSTORABLE = /[\0\p{Cs}]/u;

/** The JSON path (`error.message`, `quality.flags[0]`) of the first key or string value PostgreSQL's jsonb cannot hold, or null. */
function unstorableString(value: unknown, path: readonly string[]): string | null {
  if (typeof value === "string") return UNSTORABLE.test(value) ? path.join(".") || "(payload)" : null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const at = [...path.slice(0, -1), `${path.at(-1) ?? ""}[${i}]`];
      const found = unstorableString(v, at);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (UNSTORABLE.test(k)) return [...path, JSON.stringify(k)].join(".");
      const found = unstorableString(v, [...path, k]);
      if (found !== null) return found;
    }
  }
  return null;
}
