import { EventEmitter } from "node:events";
import type { MqttClient } from "mqtt";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Reconnector } from "../../../agent/publish/reconnector.js";

/** Just what Reconnector touches of an mqtt.js client: its events and `connected`. */
class FakeClient extends EventEmitter {
  connected = false;
}

function setup() {
  const client = new FakeClient();
  const reconnects: number[] = [];
  const reconnector = new Reconnector({
    backoff: { initial_ms: 100, max_ms: 400 },
    random: () => 0.5,
    reconnect: () => reconnects.push(Date.now()),
  });
  reconnector.attach(client as unknown as MqttClient);
  return { client, reconnector, reconnects };
}

describe("Reconnector", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reports each reason once until it changes or a connect resets it", () => {
    const { client, reconnector } = setup();
    client.emit(
      "error",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    );
    expect(reconnector.closed()).toEqual({ reason: "connect ECONNREFUSED 127.0.0.1:1", repeated: false });
    client.emit(
      "error",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    );
    expect(reconnector.closed()).toEqual({ reason: "connect ECONNREFUSED 127.0.0.1:1", repeated: true });
    // No error or DISCONNECT before the close: the generic reason, which differs from the last one.
    expect(reconnector.closed()).toEqual({
      reason: "connection closed by the broker or the network",
      repeated: false,
    });
    // DISCONNECT reason code 0x8B is "Server shutting down" (MQTT 5 §3.14.2.1).
    client.emit("disconnect", { reasonCode: 0x8b });
    expect(reconnector.closed().reason).toBe(
      "broker sent DISCONNECT: Server shutting down (reason code 139)",
    );
    reconnector.connected();
    client.emit("disconnect", { reasonCode: 0x8b });
    expect(reconnector.closed().repeated).toBe(false);
    reconnector.recordReason("dropped on purpose");
    expect(reconnector.closed()).toEqual({ reason: "dropped on purpose", repeated: false });
  });

  it("waits the jittered, capped backoff before each attempt and resets on connect", async () => {
    const { reconnector, reconnects } = setup();
    // random 0.5 → delay = ceiling/2 + ceiling/4 = 0.75 · ceiling; ceilings 100, 200, 400, 400 (cap)
    // → 75, 150, 300, 300 ms; each attempt scheduled when the previous one fired.
    for (let i = 0; i < 4; i++) {
      reconnector.schedule();
      await vi.runOnlyPendingTimersAsync();
    }
    expect(reconnects).toEqual([75, 75 + 150, 75 + 150 + 300, 75 + 150 + 300 + 300]);
    expect(reconnector.attempt).toBe(4);
    reconnector.connected();
    expect(reconnector.attempt).toBe(0);
  });

  it("skips the attempt when already connected and never fires after stop", async () => {
    const { client, reconnector, reconnects } = setup();
    reconnector.schedule();
    client.connected = true;
    await vi.runOnlyPendingTimersAsync();
    client.connected = false;
    reconnector.schedule();
    reconnector.stop();
    reconnector.schedule();
    await vi.runAllTimersAsync();
    expect(reconnects).toEqual([]);
    expect(reconnector.attempt).toBe(2);
  });
});
