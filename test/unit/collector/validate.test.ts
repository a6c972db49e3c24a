import { describe, expect, it } from "vitest";
import { parseResultTopic, validateResult } from "../../../collector/validate.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";

describe("parseResultTopic", () => {
  it("reads operator, province, site and test from the end, whatever the root", () => {
    expect(parseResultTopic("qosprobe/v1/op-a/BJ/bj-01/result/bj-gz")).toEqual({
      operator: "op-a",
      province: "BJ",
      site: "bj-01",
      testId: "bj-gz",
    });
    expect(parseResultTopic("region/x/qosprobe/v1/op-a/BJ/bj-01/result/t")?.site).toBe("bj-01");
  });

  it("returns null for topics that are not result topics", () => {
    expect(parseResultTopic("qosprobe/v1/op-a/BJ/bj-01/status")).toBeNull();
    expect(parseResultTopic("qosprobe/v1/op-a/BJ/bj-01/result/")).toBeNull();
    expect(parseResultTopic("op-a/BJ/bj-01/result/t")).toBeNull(); // no root: 5 segments
    expect(parseResultTopic("qosprobe/v1/op-a//bj-01/result/t")).toBeNull();
    expect(parseResultTopic("qosprobe/v1/op-a/BJ/bj-01/results/t")).toBeNull();
    expect(parseResultTopic("qosprobe/v1/op-a/BJ/bj-01/result/t/")).toBeNull(); // empty test id
  });

  it("takes any root before the operator, an empty one (a leading slash) too", () => {
    expect(parseResultTopic("/op-a/BJ/bj-01/result/t")).toEqual({
      operator: "op-a",
      province: "BJ",
      site: "bj-01",
      testId: "t",
    });
    expect(parseResultTopic("a/b/c/op/P/s/result/x")?.operator).toBe("op");
  });
});

describe("validateResult", () => {
  const msg = makeResult();
  const topic = resultTopic(msg); // qosprobe/v1/op-a/BJ/bj-01/result/bj-gz-stamp

  it("accepts a valid message as bytes or text and returns it parsed", () => {
    expect(validateResult(topic, Buffer.from(JSON.stringify(msg)))).toEqual({ ok: true, message: msg });
    expect(validateResult(topic, JSON.stringify(msg))).toEqual({ ok: true, message: msg });
  });

  it("accepts quality.follow_up (STAMP's confirmed T3 counts) and refuses a malformed one", () => {
    const withFollowUp = { ...msg, quality: { ...msg.quality, follow_up: { requested: 20, confirmed: 19 } } };
    expect(validateResult(topic, JSON.stringify(withFollowUp))).toEqual({ ok: true, message: withFollowUp });
    const failed = {
      ...msg,
      quality: { ...msg.quality, follow_up: { requested: 4, confirmed: 0, hmac_failed: 3 } },
    };
    expect(validateResult(topic, JSON.stringify(failed)).ok).toBe(true);
    const bad = { ...msg, quality: { ...msg.quality, follow_up: { requested: 2, confirmed: -1 } } };
    const v = validateResult(topic, JSON.stringify(bad));
    expect(v.ok === false && v.reason).toContain("quality.follow_up.confirmed");
  });

  it("names an unknown schema version instead of listing field errors", () => {
    const newer = JSON.stringify({ ...msg, schema: "qosprobe.result/2", shape: "different" });
    expect(validateResult(topic, newer)).toEqual({
      ok: false,
      reason: "unsupported schema qosprobe.result/2",
    });
    expect(validateResult(topic, JSON.stringify({ ...msg, schema: 2 }))).toEqual({
      ok: false,
      reason: "unsupported schema 2",
    });
  });

  it("gives zod's prettified issues for an invalid v1 message", () => {
    const bad: Record<string, unknown> = { ...msg, packets: { ...msg.packets, sent: -1 }, extra: 1 };
    delete bad.loss_ratio;
    // Three problems: an unknown key, a missing loss_ratio, a negative count.
    expect(validateResult(topic, JSON.stringify(bad))).toEqual({
      ok: false,
      reason: [
        '✖ Unrecognized key: "extra"',
        "✖ Invalid input: expected number, received undefined",
        "  → at loss_ratio",
        "✖ Too small: expected number to be >=0",
        "  → at packets.sent",
      ].join("\n"),
    });
  });

  it("rejects bytes that are not UTF-8, text that is not JSON, and JSON that is not an object", () => {
    expect(validateResult(topic, Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({
      ok: false,
      reason: "payload is not UTF-8 text",
    });
    expect(validateResult(topic, "")).toEqual({
      ok: false,
      reason: "invalid JSON: Unexpected end of JSON input",
    });
    expect(validateResult(topic, "[1,2]")).toEqual({ ok: false, reason: "payload is not a JSON object" });
    expect(validateResult(topic, "null")).toEqual({ ok: false, reason: "payload is not a JSON object" });
  });

  it("refuses a body that claims another site, operator or province than its topic", () => {
    const body = JSON.stringify(msg);
    expect(validateResult("qosprobe/v1/op-a/BJ/sh-01/result/bj-gz-stamp", body)).toEqual({
      ok: false,
      reason: "topic site sh-01 does not match agent.site bj-01",
    });
    expect(validateResult("qosprobe/v1/op-b/BJ/bj-01/result/bj-gz-stamp", body)).toEqual({
      ok: false,
      reason: "topic operator op-b does not match agent.operator op-a",
    });
    expect(validateResult("qosprobe/v1/op-a/SH/bj-01/result/bj-gz-stamp", body)).toEqual({
      ok: false,
      reason: "topic province SH does not match agent.province BJ",
    });
  });

  it("refuses a NUL or a lone surrogate escape with its path (jsonb cannot hold them; they failed whole batches)", () => {
    const topic = resultTopic(msg);
    /** The message as JSON text with agent.version written as `json` (raw JSON string text). */
    const withVersion = (json: string) =>
      JSON.stringify({ ...msg, agent: { ...msg.agent, version: "VERSION" } }).replace('"VERSION"', json);
    expect(validateResult(topic, withVersion('"1\\u0000"'))).toEqual({
      ok: false,
      reason:
        "agent.version: a NUL character (\\u0000) or a lone UTF-16 surrogate cannot be stored (PostgreSQL jsonb) or signed (RFC 8785); send well-formed text",
    });
    const lone = validateResult(topic, withVersion('"1\\ud800"'));
    expect(lone.ok === false && lone.reason.split(":")[0]).toBe("agent.version");
    const flagged = validateResult(
      topic,
      JSON.stringify({ ...msg, quality: { ...msg.quality, flags: ["F"] } }).replace('"F"', '"\\udc00"'),
    );
    expect(flagged.ok === false && flagged.reason.split(":")[0]).toBe("quality.flags[0]");
    // A surrogate pair written as escapes is one character (U+1F600), and an escaped backslash before a u is text.
    const pair = validateResult(topic, withVersion('"1 \\ud83d\\ude00 C:\\\\users"'));
    expect(pair.ok && pair.message.agent.version).toBe("1 \u{1F600} C:\\users");
  });

  it('refuses a record holding a "__proto__" key with a wrong value (zod skips the key, Ajv does not)', () => {
    // JSON.parse makes "__proto__" an own key; zod's z.record skips it whatever its value, so zod
    // accepted this and returned a copy without it, while the text stored (payload_text) kept it. A
    // sealed result could thus carry bytes the signature check never covered and still count as checked.
    const m = makeResult();
    m.packets.loss_reasons = { "network unreachable": 3 };
    const text = JSON.stringify(m).replace(
      '"loss_reasons":{',
      '"loss_reasons":{"__proto__":{"forged":true},',
    );
    expect(JSON.parse(text).packets.loss_reasons).toHaveProperty("__proto__");
    const v = validateResult(resultTopic(m), Buffer.from(text, "utf8"));
    expect(v).toEqual({ ok: false, reason: "/packets/loss_reasons/__proto__: must be integer" });
    // With a count there it is a key like any other: accepted, and the message is the text received.
    const count = JSON.stringify(m).replace('"loss_reasons":{', '"loss_reasons":{"__proto__":2,');
    const ok = validateResult(resultTopic(m), count);
    expect(ok.ok && JSON.stringify(ok.message)).toBe(count);
  });

  it("rejects a message on a topic that is not a result topic", () => {
    expect(validateResult("qosprobe/v1/op-a/BJ/bj-01/status", JSON.stringify(msg))).toEqual({
      ok: false,
      reason:
        "topic qosprobe/v1/op-a/BJ/bj-01/status is not a result topic ({root}/{operator}/{province}/{site}/result/{test})",
    });
  });
});
