import { describe, expect, it } from "vitest";
import { AckWindow } from "../../../collector/ack-window.js";

/** A window over plain arrays: what was acknowledged (one array per call), refused and released. */
function harness(limit: number) {
  const acks: number[][] = [];
  const refused: number[] = [];
  const released: number[] = [];
  const window = new AckWindow({
    limit,
    ack: (ids) => acks.push([...ids]),
    refuse: (unacked) => refused.push(unacked),
  });
  const add = (id: number) => window.add(id, () => released.push(id));
  return { window, acks, refused, released, add };
}

describe("AckWindow", () => {
  it("acknowledges in arrival order: a later store waits for the earlier ones", () => {
    const { window, acks, add } = harness(10);
    const [s1, s2, s3] = [add(1), add(2), add(3)];
    window.settle(s3, "ack"); // 3 is stored first, but 1 and 2 are not yet
    window.settle(s2, "ack");
    expect(acks).toEqual([]);
    window.settle(s1, "ack"); // now 1, 2, 3 go together, in order
    expect(acks).toEqual([[1, 2, 3]]);
    expect(window.size).toBe(0);
  });

  it("lets the next delivery in only while fewer than limit wait", () => {
    const { window, released, add } = harness(2);
    const s1 = add(1); // 1 waiting < 2: released at once
    const s2 = add(2); // 2 waiting = limit: held (the transport reads no further packet)
    expect(released).toEqual([1]);
    window.settle(s1, "ack"); // 1 waiting < 2: the transport may read the next packet
    expect(released).toEqual([1, 2]);
    window.settle(s2, "ack");
    expect(window.size).toBe(0);
  });

  it("on a retry acknowledges what came before, then refuses with everything after it unacknowledged", () => {
    const { window, acks, refused, add } = harness(10);
    const [s1, s2, s3, s4] = [add(1), add(2), add(3), add(4)];
    window.settle(s4, "ack");
    window.settle(s2, "retry");
    window.settle(s1, "ack"); // 1 goes out; 2 is refused, so 3 (pending) and 4 (stored) stay unacknowledged
    expect(acks).toEqual([[1]]);
    expect(refused).toEqual([3]); // 2, 3 and 4 are redelivered by the broker
    expect(window.isClosed).toBe(true);
    window.settle(s3, "ack"); // the connection is gone: ignored
    expect(acks).toEqual([[1]]);
  });

  it("paused, it still acknowledges what it holds but lets nothing new in", () => {
    const { window, acks, released, add } = harness(2);
    const s1 = add(1);
    const s2 = add(2); // held
    window.pause();
    window.settle(s1, "ack");
    window.settle(s2, "ack");
    expect(acks).toEqual([[1], [2]]);
    expect(released).toEqual([1]); // 2 stays held: no further packet is read during shutdown
  });

  it("closed, it takes nothing and acknowledges nothing", () => {
    const { window, acks, released, add } = harness(5);
    const s1 = add(1);
    window.close();
    const s2 = add(2);
    window.settle(s1, "ack");
    window.settle(s2, "ack");
    expect({ acks, released, size: window.size }).toEqual({ acks: [], released: [1], size: 0 });
  });

  it("keeps order across many deliveries settled in reverse (the head compacts past 1024)", () => {
    const { window, acks, add } = harness(5000);
    const slots = Array.from({ length: 3000 }, (_, i) => add(i + 1));
    for (const s of slots.slice(0, 1500)) window.settle(s, "ack"); // 1..1500 in order, one call each
    for (const s of slots.slice(1500).reverse()) window.settle(s, "ack"); // 3000 down to 1501: one call at the end
    expect(acks).toHaveLength(1501);
    expect(acks.flat()).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(window.size).toBe(0);
  });
});
