import { z } from "zod";
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
  const parts = topic.split("/");
  const n = parts.length;
  if (n < 6 || parts[n - 2] !== "result") return null;
  const [operator, province, site, , testId] = parts.slice(n - 5);
  if (!operator || !province || !site || !testId) return null;
  return { operator, province, site, testId };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

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
  const parsed = ResultMessage.safeParse(body);
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
  const msg = parsed.data;
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
  return { ok: true, message: msg };
}
