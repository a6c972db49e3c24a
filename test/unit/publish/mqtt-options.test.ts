import { describe, expect, it } from "vitest";
import { type MqttPublisherOptions, toClientOptions } from "../../../agent/publish/mqtt-options.js";

const base: MqttPublisherOptions = {
  url: "mqtt://127.0.0.1:1883",
  protocolVersion: 5,
  clientId: "agent-gz-01",
  keepalive: 30,
  will: { topic: "qosprobe/v1/ct/GD/gz-01/status", payload: "offline", retain: true, qos: 1 },
};

describe("toClientOptions", () => {
  it("asks for a persistent MQTT 5 session and leaves reconnects to the publisher", () => {
    expect(toClientOptions(base)).toEqual({
      clientId: "agent-gz-01",
      protocolVersion: 5,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      will: {
        topic: "qosprobe/v1/ct/GD/gz-01/status",
        payload: Buffer.from("offline"),
        qos: 1,
        retain: true,
        // MQTT 5 Will Delay: a broker restart does not announce a stale offline
        properties: { willDelayInterval: 5 },
      },
      rejectUnauthorized: true,
      // no 65,536-Buffer number cache in mqtt-packet (≈ 6 MiB of agent heap)
      writeCache: false,
      // one day = 24 · 3600 s
      properties: { sessionExpiryInterval: 86_400 },
    });
  });

  it("sends no MQTT 5 properties to a 3.1.1 broker and passes credentials and TLS material", () => {
    const options = toClientOptions({
      ...base,
      protocolVersion: 4,
      username: "gz-01",
      password: "s3cret",
      ca: "CA",
      cert: "CERT",
      key: "KEY",
    });
    expect(options.properties).toBeUndefined();
    expect([options.username, options.password, options.ca, options.cert, options.key]).toEqual([
      "gz-01",
      "s3cret",
      "CA",
      "CERT",
      "KEY",
    ]);
  });

  it("refuses more in-flight publishes than 16-bit message ids allow", () => {
    expect(() => toClientOptions({ ...base, maxInFlight: 65_536 })).toThrow(
      "maxInFlight must be an integer in 1..65535, got 65536",
    );
    expect(() => toClientOptions({ ...base, maxInFlight: 0 })).toThrow("got 0");
  });
});
