import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Collector } from "../../../collector/collector.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";
import { backends } from "../../helpers/store-backends.js";
import { type AgentStack, agentStack, testCollector, waitFor } from "./delivery-helpers.js";

/**
 * Issue 7's delivery mechanisms, each alone, against a private Mosquitto 2.0.11 and PostgreSQL:
 * a PUBACK is not a receipt; reason code 16 is not a delivery; a resumed session is not a subscription.
 */

const RESULTS = "qosprobe/v1/+/+/+/result/+";
const postgres = backends.find((b) => b.name === "postgres")!;

describe("store receipts and delivery (private Mosquitto, PostgreSQL)", () => {
  let broker: PrivateMosquitto;
  let store: ResultStore;
  let dispose: () => Promise<void>;
  const stacks: AgentStack[] = [];
  const collectors: Collector[] = [];
  const clients: MqttClient[] = [];
  let group = 0;

  beforeAll(async () => {
    ({ store, dispose } = await postgres.open());
    await store.migrate();
  });
  afterAll(async () => {
    await dispose();
  });
  beforeEach(async () => {
    broker = await startMosquitto();
    group += 1;
  });
  afterEach(async () => {
    for (const s of stacks.splice(0)) await s.stop();
    for (const c of collectors.splice(0)) await c.stop();
    for (const c of clients.splice(0)) await c.endAsync(true);
    await broker.stop();
  });

  /** A subscriber that takes results (so the broker PUBACKs with 0) but stores nothing, sends no receipt. */
  async function plainSubscriber(): Promise<number[]> {
    const seen: number[] = [];
    const client = await connectAsync(broker.url, { protocolVersion: 5, clientId: `plain-${group}` });
    clients.push(client);
    client.on("message", (_t, payload) => seen.push((JSON.parse(payload.toString()) as { seq: number }).seq));
    await client.subscribeAsync(RESULTS, { qos: 1 });
    return seen;
  }

  async function collector(name: string, share = `g${group}`): Promise<Collector> {
    const c = testCollector({ url: broker.url, store, clientId: `${name}-${group}`, group: share });
    collectors.push(c);
    await c.start();
    await waitFor("the collector subscribed", () => c.counters().connections.every((x) => x.subscribed));
    return c;
  }

  async function stack(receipts: "required" | "off", receiptTimeoutMs?: number): Promise<AgentStack> {
    const s = await agentStack({
      url: broker.url,
      clientId: `agent-${group}`,
      receipts,
      site: `site-${group}`,
      ...(receiptTimeoutMs ? { receiptTimeoutMs } : {}),
    });
    stacks.push(s);
    return s;
  }

  const agentKey = () => ({ operator: "op-a", site: `site-${group}` });

  it("keeps a PUBACKed result until a store receipt covers it, republishing it meanwhile", async () => {
    expect(await store.seqIslands(agentKey())).toEqual([]);
    const seen = await plainSubscriber();
    const a = await stack("required", 1_000);
    for (let i = 0; i < 3; i++) await a.produce();
    await waitFor("3 PUBACKs", () => a.outbox.awaitingReceipt() === 3);
    // PUBACKed, but nothing stored them: all three are kept.
    expect(a.outbox.depth()).toBe(3);
    await waitFor("a republish of each", () =>
      [1, 2, 3].every((s) => seen.filter((x) => x === s).length >= 2),
    );
    expect(a.outbox.depth()).toBe(3);
    expect(a.receipts?.counters().republished).toBeGreaterThanOrEqual(3);

    // A collector that stores and sends receipts: the next republish is stored, receipted, deleted.
    await collector("col");
    await waitFor("all three receipted", () => a.receipts?.counters().receipted === 3);
    expect(a.outbox.depth()).toBe(0);
    expect(await store.seqIslands(agentKey())).toEqual([[1, 3]]);
  }, 40_000);

  it("receipts a result the store refused as a second interval claim: the outbox empties", async () => {
    await collector("col");
    const a = await stack("required", 1_000);
    const at = "2026-11-01T08:00:00.000Z";
    expect(await a.produce("bj-gz-stamp", at)).toBe(1);
    // The same test and interval again under a new id: refused, kept in rejects with the reason.
    expect(await a.produce("bj-gz-stamp", at)).toBe(2);
    expect(await a.produce()).toBe(3);
    // The counter moves after the outbox has persisted the removal (receipts.ts: receipt().then), a
    // moment after depth() reads 0: wait for both, or a receipt covering the last seqs races the read.
    await waitFor(
      "all three receipted, the refused one as decided",
      () => a.outbox.depth() === 0 && a.receipts?.counters().receipted === 3,
    );
    expect(a.receipts?.counters().receipted).toBe(3);
    expect(await store.seqIslands(agentKey())).toEqual([[1, 3]]);
    const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 60_000) });
    expect(rejects.filter((r) => r.topic.includes(`/site-${group}/`)).map((r) => r.reason)).toEqual([
      expect.stringMatching(
        /^interval 2026-11-01T08:00:00.000Z of test bj-gz-stamp at op-a\/site-\d+ is already claimed by result /,
      ),
    ]);
  }, 40_000);

  it("keeps a result the broker PUBACKs with reason code 16 (no matching subscribers) and retries it", async () => {
    const a = await stack("off");
    await a.produce();
    await a.produce();
    await waitFor("reason code 16 twice", () => a.publisher.counters().not_delivered >= 2);
    expect(a.publisher.counters().acked).toBe(0);
    expect(a.outbox.depth()).toBe(2);
    // Once something subscribes, the retry delivers them, and only then (receipts off) are they deleted.
    const seen = await plainSubscriber();
    await waitFor("delivered", () => a.outbox.depth() === 0);
    expect([...new Set(seen)].sort()).toEqual([1, 2]);
  }, 30_000);

  it("subscribes again when Mosquitto restarts from persistence with the session present", async () => {
    const c = await collector("col-restart");
    const a = await stack("required");
    await a.produce();
    await waitFor("stored and receipted", () => a.outbox.depth() === 0);

    await broker.restart(300);
    await waitFor("the collector back, with its session resumed", () => c.counters().sessions_resumed >= 1);
    await waitFor("subscribed again after its SUBACK", () =>
      c.counters().connections.every((x) => x.subscribed),
    );
    for (let i = 0; i < 3; i++) await a.produce();
    // Mosquitto 2.0.11 does not restore the $share subscription: without SUBSCRIBE on this connect the
    // agent would see reason code 16 for ever and these would never be stored.
    await waitFor("stored and receipted after the restart", () => a.outbox.depth() === 0);
    expect(a.publisher.counters().acked).toBeGreaterThanOrEqual(4);
    const islands = await store.seqIslands(agentKey());
    expect(islands.at(-1)?.[1]).toBeGreaterThanOrEqual(4);
  }, 40_000);

  it("two collectors sharing one database both send correct receipts", async () => {
    const share = `shared-${group}`;
    const [c1, c2] = [await collector("col-a", share), await collector("col-b", share)];
    const a = await stack("required");
    const first = a.outbox.nextSeq();
    for (let i = 0; i < 20; i++) await a.produce();
    await waitFor("all 20 receipted", () => a.receipts?.counters().receipted === 20);
    expect(a.outbox.depth()).toBe(0);
    // Both took a share of the results, and receipts came from both.
    expect(c1.counters().stored).toBeGreaterThan(0);
    expect(c2.counters().stored).toBeGreaterThan(0);
    expect(c1.counters().stored + c2.counters().stored).toBe(20);
    expect(c1.counters().receipts_sent).toBeGreaterThan(0);
    expect(c2.counters().receipts_sent).toBeGreaterThan(0);
    expect(first).toBe(1);
  }, 40_000);
});
