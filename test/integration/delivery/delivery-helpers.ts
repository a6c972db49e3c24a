import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../agent/log.js";
import { MqttPublisher } from "../../../agent/publish/mqtt.js";
import { Outbox } from "../../../agent/publish/outbox.js";
import { AgentReceipts } from "../../../agent/publish/receipts.js";
import { receiptTopic, type SiteTopics, statusTopic } from "../../../agent/publish/topics.js";
import { Collector } from "../../../collector/collector.js";
import { parseCollectorConfig } from "../../../collector/config.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";

/** The agent's delivery stack in-process (outbox → publisher ↔ receipts), without probes. */
export interface AgentStack {
  outbox: Outbox;
  publisher: MqttPublisher;
  receipts: AgentReceipts | null;
  /**
   * Append one valid result (site bj-01 of op-a) and resolve with its seq. Each claims its own
   * interval unless `intervalStart` is given (a second claim on one is refused by the store).
   */
  produce(test?: string, intervalStart?: string): Promise<number>;
  stop(): Promise<void>;
}

export function siteTopics(site: string): SiteTopics {
  return { root: "qosprobe/v1", operator: "op-a", province: "BJ", site };
}

export async function agentStack(opts: {
  url: string;
  clientId: string;
  receipts: "required" | "off";
  receiptTimeoutMs?: number;
  /** Each test its own agent site: seqs start at 1 for every fresh outbox. */
  site: string;
}): Promise<AgentStack> {
  const SITE = siteTopics(opts.site);
  const dir = await mkdtemp(join(tmpdir(), "qosprobe-delivery-"));
  const outbox = new Outbox({ dir, max_bytes: 10_000_000, max_age_ms: 3_600_000 });
  await outbox.open();
  const publisher = new MqttPublisher({
    url: opts.url,
    protocolVersion: 5,
    clientId: opts.clientId,
    keepalive: 5,
    will: { topic: statusTopic(SITE), payload: "", retain: false, qos: 1 },
    receipts: opts.receipts,
    ...(opts.receipts === "required" ? { subscriptions: [receiptTopic(SITE)] } : {}),
    reconnect: { initial_ms: 100, max_ms: 400 },
    log: silentLogger(),
  });
  const receipts =
    opts.receipts === "required"
      ? new AgentReceipts({
          outbox,
          source: publisher,
          topic: receiptTopic(SITE),
          own: SITE,
          timeout_ms: opts.receiptTimeoutMs ?? 60_000,
          log: silentLogger(),
        })
      : null;
  receipts?.start();
  publisher.start();
  publisher.drain(outbox);
  let produced = 0;
  return {
    outbox,
    publisher,
    receipts,
    produce: (test = "bj-gz-stamp", at?: string) => {
      // Each result claims its own interval: the store refuses a second claim on one (issue 9).
      produced += 1;
      const intervalStart = at ?? new Date(Date.UTC(2026, 10, 1) + produced * 60_000).toISOString();
      const msg = makeResult({ testId: test, site: opts.site, intervalStart });
      return outbox.append(resultTopic(msg), (seq) => Buffer.from(JSON.stringify({ ...msg, seq })));
    },
    async stop() {
      receipts?.stop();
      await publisher.stop({ deadline_ms: 0 });
      await outbox.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function testCollector(o: {
  url: string;
  store: ResultStore;
  clientId: string;
  group: string;
  connections?: number;
}): Collector {
  const yaml = [
    "version: 1",
    `mqtt: { url: "${o.url}", client_id: ${o.clientId}, share_group: ${o.group}, keepalive_s: 10, connections: ${o.connections ?? 1} }`,
    "http: { enabled: false }",
    "ingest: { flush_interval_ms: 50, receipt_interval_ms: 100 }",
  ].join("\n");
  return new Collector({
    config: parseCollectorConfig(yaml, "test.yaml", {}),
    store: o.store,
    log: silentLogger(),
  });
}

export async function waitFor(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
