import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import { type MqttCredentials, withCredentials } from "../publish/mqtt-options.js";
import { configAckTopic, configTopic, type SiteTopics } from "../publish/topics.js";
import type { ConfigAck } from "./ack.js";

/**
 * The control loop's MQTT connection: subscribes to the retained signed configuration and publishes
 * acks. It is a second, small connection next to the results publisher (client id `<id>-control`) so
 * that the publisher's session, in-flight window and outbox stay exactly as they are, and a burst of
 * results can never hold up a configuration change or its ack.
 *
 * Topics (DESIGN wire contract; the operator-wide one is ours):
 *   {root}/{operator}/{province}/{site}/config   QoS 1, retained: this site's envelope
 *   {root}/{operator}/config                     QoS 1, retained: one envelope for every site of the operator
 *   {root}/{operator}/{province}/{site}/config/ack  QoS 1, not retained: our answers
 * A clean session is enough: the envelope is retained, so every (re)subscribe delivers the newest.
 */

export function operatorConfigTopic(root: string, operator: string): string {
  return `${root}/${operator}/config`;
}

export interface ControlChannelOptions {
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  credentials: MqttCredentials;
  keepalive_s: number;
  topics: SiteTopics;
  subscribe: { site: boolean; operator: boolean };
  onEnvelope: (text: string, source: string) => void;
  log: Logger;
  /** ms between reconnect attempts (mqtt.js's own loop; the control channel needs no backoff state). */
  reconnect_ms?: number;
}

/** Acks held while the broker is away; the newest matter most, the log keeps all. */
const MAX_PENDING_ACKS = 32;

export class ControlChannel {
  private readonly o: ControlChannelOptions;
  private client: MqttClient | null = null;
  private pending: ConfigAck[] = [];

  constructor(o: ControlChannelOptions) {
    this.o = o;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  subscriptions(): string[] {
    const t: string[] = [];
    if (this.o.subscribe.site) t.push(configTopic(this.o.topics));
    if (this.o.subscribe.operator) t.push(operatorConfigTopic(this.o.topics.root, this.o.topics.operator));
    return t;
  }

  start(): void {
    const options: IClientOptions = withCredentials(
      {
        clientId: this.o.clientId,
        protocolVersion: this.o.protocolVersion,
        clean: true,
        keepalive: this.o.keepalive_s,
        reconnectPeriod: this.o.reconnect_ms ?? 2_000,
        connectTimeout: 10_000,
        // We subscribe ourselves on every connect (below), and check the SUBACK.
        resubscribe: false,
        rejectUnauthorized: true,
        // No 65,536-entry number cache in mqtt-packet (≈ 6 MiB of heap): see publish/mqtt-options.ts.
        writeCache: false,
      },
      this.o.credentials,
    );
    const client = connect(this.o.url, options);
    this.client = client;
    client.on("connect", () => void this.onConnect(client));
    client.on("message", (topic, payload) => {
      // An empty retained message is how an envelope is withdrawn from the broker: nothing to decide.
      if (payload.length === 0) return;
      this.o.onEnvelope(payload.toString("utf8"), `mqtt:${topic}`);
    });
    client.on("error", (err) => this.o.log.warn({ err: err.message }, "control channel: MQTT error"));
  }

  private async onConnect(client: MqttClient): Promise<void> {
    const topics = this.subscriptions();
    try {
      if (topics.length > 0) {
        const granted = await client.subscribeAsync(topics, { qos: 1 });
        const refused = granted.filter((g) => g.qos > 2);
        if (refused.length > 0) {
          this.o.log.error(
            { topics: refused.map((g) => g.topic) },
            "control channel: broker refused the config subscription (check the ACL)",
          );
        }
      }
      this.o.log.info({ topics }, "control channel: subscribed to the signed configuration");
    } catch (err) {
      this.o.log.warn(
        { err: (err as Error).message },
        "control channel: subscribe failed; retried on reconnect",
      );
    }
    const held = this.pending;
    this.pending = [];
    for (const ack of held) this.publishAck(ack);
  }

  /** Publish an ack at QoS 1, or hold it until the next connect. */
  publishAck(ack: ConfigAck): void {
    const client = this.client;
    if (!client?.connected) {
      this.pending.push(ack);
      if (this.pending.length > MAX_PENDING_ACKS) this.pending.shift();
      return;
    }
    client.publish(configAckTopic(this.o.topics), JSON.stringify(ack), { qos: 1 }, (err) => {
      if (err) {
        this.o.log.warn(
          { err: err.message },
          "control channel: ack not delivered; held for the next connect",
        );
        this.pending.push(ack);
      }
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(false).catch(() => client.end(true));
  }
}
