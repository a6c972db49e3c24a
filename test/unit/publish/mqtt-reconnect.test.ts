import { ErrorWithReasonCode } from "mqtt";
import { describe, expect, it } from "vitest";
import {
  describeDisconnectPacket,
  describeMqttFailure,
  reconnectDelay,
} from "../../../agent/publish/mqtt-reconnect.js";

const backoff = { initial_ms: 500, max_ms: 30_000 };

describe("reconnectDelay", () => {
  it("doubles the ceiling per attempt and caps it", () => {
    // random() = 1 gives the ceiling: 500 · 2^attempt, capped at 30,000
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 50].map((attempt) => reconnectDelay(attempt, backoff, () => 1));
    expect(ceilings).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("jitters between half the ceiling and the ceiling", () => {
    // attempt 3: ceiling 4000; random 0 → 2000, 0.25 → 2000 + 500 = 2500
    expect(reconnectDelay(3, backoff, () => 0)).toBe(2000);
    expect(reconnectDelay(3, backoff, () => 0.25)).toBe(2500);
  });
});

describe("failure descriptions", () => {
  it("names CONNACK and PUBACK reason codes", () => {
    expect(describeMqttFailure(new ErrorWithReasonCode("Connection refused: Not authorized", 135))).toBe(
      "Connection refused: Not authorized (reason code 135)",
    );
  });

  it("keeps socket error codes", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(describeMqttFailure(refused)).toBe("connect ECONNREFUSED 127.0.0.1:1");
    const tls = Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" });
    expect(describeMqttFailure(tls)).toBe("CERT_HAS_EXPIRED: certificate has expired");
  });

  it("names DISCONNECT reason codes", () => {
    expect(describeDisconnectPacket(142)).toBe(
      "broker sent DISCONNECT: Session taken over (reason code 142)",
    );
    expect(describeDisconnectPacket(undefined)).toBe(
      "broker sent DISCONNECT: Normal disconnection (reason code 0)",
    );
  });
});
