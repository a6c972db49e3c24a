import { describe, expect, it } from "vitest";
import { QosProbeError } from "../../../agent/errors.js";
import {
  collectorSubscription,
  configAckTopic,
  configTopic,
  DEFAULT_TOPIC_ROOT,
  parseTopic,
  resultTopic,
  statusTopic,
  topicSegmentProblem,
} from "../../../agent/publish/topics.js";

const site = { root: DEFAULT_TOPIC_ROOT, operator: "ct", province: "GD", site: "gz-01" };

describe("topics", () => {
  it("builds the four per-site topics of the contract", () => {
    expect(resultTopic(site, "gz-bj-stamp")).toBe("qosprobe/v1/ct/GD/gz-01/result/gz-bj-stamp");
    expect(statusTopic(site)).toBe("qosprobe/v1/ct/GD/gz-01/status");
    expect(configTopic(site)).toBe("qosprobe/v1/ct/GD/gz-01/config");
    expect(configAckTopic(site)).toBe("qosprobe/v1/ct/GD/gz-01/config/ack");
  });

  it("builds the collectors' shared subscription", () => {
    expect(collectorSubscription()).toBe("$share/collectors/qosprobe/v1/+/+/+/result/+");
    expect(collectorSubscription("lab/x", "g1")).toBe("$share/g1/lab/x/+/+/+/result/+");
  });

  it("parses each topic back into its parts", () => {
    expect(parseTopic(DEFAULT_TOPIC_ROOT, "qosprobe/v1/ct/GD/gz-01/result/gz-bj-stamp")).toEqual({
      kind: "result",
      testId: "gz-bj-stamp",
      ...site,
    });
    expect(parseTopic(DEFAULT_TOPIC_ROOT, "qosprobe/v1/ct/GD/gz-01/status")).toEqual({
      kind: "status",
      ...site,
    });
    expect(parseTopic(DEFAULT_TOPIC_ROOT, "qosprobe/v1/ct/GD/gz-01/config")).toEqual({
      kind: "config",
      ...site,
    });
    expect(parseTopic(DEFAULT_TOPIC_ROOT, "qosprobe/v1/ct/GD/gz-01/config/ack")).toEqual({
      kind: "config-ack",
      ...site,
    });
  });

  it("returns null for topics outside the contract", () => {
    for (const topic of [
      "other/v1/ct/GD/gz-01/status",
      "qosprobe/v1/ct/GD/gz-01",
      "qosprobe/v1/ct/GD/gz-01/result",
      "qosprobe/v1/ct/GD/gz-01/result/a/b",
      "qosprobe/v1/ct/GD/gz-01/status/extra",
      "qosprobe/v1/ct/GD/gz-01/config/nack",
      "qosprobe/v1/ct//gz-01/status",
      "qosprobe/v1/ct/GD/gz-01/heartbeat",
    ]) {
      expect(parseTopic(DEFAULT_TOPIC_ROOT, topic), topic).toBeNull();
    }
  });

  it("refuses wildcards, '/', NUL and empty segments", () => {
    expect(topicSegmentProblem("gz-01")).toBeNull();
    expect(topicSegmentProblem("")).toBe("must not be empty");
    expect(topicSegmentProblem("a/b")).toBe("must not contain '/' (it would add a topic level)");
    expect(topicSegmentProblem("a+")).toBe("must not contain the MQTT wildcards '+' or '#'");
    expect(topicSegmentProblem("#")).toBe("must not contain the MQTT wildcards '+' or '#'");
    expect(topicSegmentProblem("a\u0000b")).toBe("must not contain NUL");
    expect(() => resultTopic(site, "x/y")).toThrowError(
      new QosProbeError("MQTT", "topic test id \"x/y\" must not contain '/' (it would add a topic level)", {
        hint: "use letters, digits, '-' and '_' in site, operator, province and test ids",
      }),
    );
    expect(() => statusTopic({ ...site, site: "+" })).toThrow(
      /topic site "\+" must not contain the MQTT wildcards/,
    );
    expect(() => statusTopic({ ...site, root: "qosprobe//v1" })).toThrow(
      /topic root level "" must not be empty/,
    );
    expect(() => statusTopic({ ...site, root: "$SYS" })).toThrow(/must not start with '\$'/);
    expect(() => collectorSubscription(DEFAULT_TOPIC_ROOT, "a/b")).toThrow(/share group/);
  });
});
