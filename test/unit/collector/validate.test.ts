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
  });
});

describe("validateResult", () => {
  const msg = makeResult();
  const topic = resultTopic(msg); // qosprobe/v1/op-a/BJ/bj-01/result/bj-gz-stamp

  it("accepts a valid message as bytes or text and returns it parsed", () => {
    expect(validateResult(topic, Buffer.from(JSON.stringify(msg)))).toEqual({ ok: true, message: msg });
    expect(validateResult(topic, JSON.stringify(msg))).toEqual({ ok: true, message: msg });
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

  it("rejects a message on a topic that is not a result topic", () => {
    expect(validateResult("qosprobe/v1/op-a/BJ/bj-01/status", JSON.stringify(msg))).toEqual({
      ok: false,
      reason:
        "topic qosprobe/v1/op-a/BJ/bj-01/status is not a result topic ({root}/{operator}/{province}/{site}/result/{test})",
    });
  });
});
