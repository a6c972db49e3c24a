import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from "mqtt";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import {
  DEFAULT_RECONNECT,
  describeDisconnectPacket,
  describeMqttFailure,
  type ReconnectBackoff,
  reconnectDelay,
} from "../agent/publish/mqtt-reconnect.js";

/**
 * What the handler decided about one delivery: "ack" sends the PUBACK (the message is stored, or
 * recorded as rejected); "retry" withholds it and reconnects after a backoff, so the broker delivers it
 * again from the persistent session.
 */
export type Disposition = "ack" | "retry";

export type DeliveryHandler = (topic: string, payload: Buffer) => Promise<Disposition>;

export interface SubscriberOptions {
  url: string;
  protocolVersion: 4 | 5;
  /** Stable across restarts: the broker resumes the session (and what it queued) under this id. */
  clientId: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  keepaliveS: number;
  /** MQTT 5 session expiry, seconds: how long the broker keeps queuing while we are away. */
  sessionExpiryS: number;
  /** Topic filters, all at QoS 1. */
  topics: readonly string[];
  handler: DeliveryHandler;
  log: Logger;
  reconnect?: ReconnectBackoff;
  random?: () => number;
}

export interface SubscriberCounters {
  deliveries: number;
  acked: number;
  /** Deliveries left unacknowledged so that the broker sends them again. */
  withheld: number;
  /** Broker redeliveries seen (the DUP flag set). */
  redelivered: number;
  connects: number;
  disconnects: number;
}

const END_TIMEOUT_MS = 2_000;

/**
 * MQTT 5 Receive Maximum: unacknowledged deliveries the broker may have in flight to us. mqtt.js
 * handles incoming packets one at a time in arrival order, and a PINGRESP queued behind a large
 * backlog of results (after downtime) would arrive too late and fail the keepalive check, so the
 * window stays small: at one write per delivery it drains in well under a second.
 */
export const RECEIVE_MAXIMUM = 100;

/**
 * An MQTT client that acknowledges a QoS 1 delivery only when the handler says it is safe.
 *
 * mqtt.js sends the PUBACK when `handleMessage`'s callback is called without an error; called with an
 * error, it skips the PUBACK and goes on to the next packet. That hook works for MQTT 5 and 3.1.1 alike
 * (`customHandleAcks` is ignored below MQTT 5, and the demo's aedes broker speaks only 3.1.1). mqtt.js
 * hands over one delivery at a time, so the broker's in-flight window drains as fast as the store
 * writes; a message left unacknowledged is redelivered when the session resumes, hence the reconnect.
 */
export class MqttSubscriber {
  private readonly options: SubscriberOptions;
  private readonly log: Logger;
  private client: MqttClient | null = null;
  /** Bumped on every connect: an ack decided on an older connection must not go out on a new one. */
  private generation = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pendingReason: string | null = null;
  private loggedReason: string | null = null;
  private ending = false;
  private readonly count: SubscriberCounters = {
    deliveries: 0,
    acked: 0,
    withheld: 0,
    redelivered: 0,
    connects: 0,
    disconnects: 0,
  };

  constructor(options: SubscriberOptions) {
    this.options = options;
    this.log = options.log;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  counters(): SubscriberCounters {
    return { ...this.count };
  }

  start(): void {
    if (this.client) throw new QosProbeError("USAGE", "MQTT subscriber already started");
    const client = connect(this.options.url, this.clientOptions());
    client.handleMessage = (packet, callback) => {
      const generation = this.generation;
      this.count.deliveries += 1;
      if (packet.dup) this.count.redelivered += 1;
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      this.options
        .handler(packet.topic, payload)
        .catch((err: unknown) => {
          this.log.error({ err, topic: packet.topic }, "collector: delivery handler failed");
          return "retry" as const;
        })
        .then((disposition) => {
          // The connection this came on is gone: the broker redelivers it on the resumed session.
          if (generation !== this.generation || this.ending) return;
          if (disposition === "ack") {
            this.count.acked += 1;
            callback();
          } else {
            this.count.withheld += 1;
            callback(new Error("not acknowledged: redeliver"));
            this.dropConnection("a delivery could not be stored; reconnecting so the broker redelivers it");
          }
        });
    };
    client.on("connect", (connack) => this.onConnect(client, connack));
    client.on("close", () => this.onClose());
    client.on("error", (error) => {
      this.pendingReason = describeMqttFailure(error);
    });
    client.on("disconnect", (packet) => {
      this.pendingReason = describeDisconnectPacket(packet.reasonCode);
    });
    this.client = client;
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client || this.ending) return;
    this.ending = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, END_TIMEOUT_MS);
      // Not forced: acks already written go out before the DISCONNECT; the session stays on the broker.
      client.end(!client.connected, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.log.info({ ...this.count }, "collector: MQTT subscriber stopped");
  }

  private clientOptions(): IClientOptions {
    const o = this.options;
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion,
      // A persistent session: the broker keeps our subscriptions and queues QoS 1 results meanwhile.
      clean: false,
      keepalive: o.keepaliveS,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      rejectUnauthorized: true,
    };
    if (o.protocolVersion === 5) {
      options.properties = { sessionExpiryInterval: o.sessionExpiryS, receiveMaximum: RECEIVE_MAXIMUM };
    }
    if (o.username !== undefined) options.username = o.username;
    if (o.password !== undefined) options.password = o.password;
    if (o.ca !== undefined) options.ca = o.ca;
    if (o.cert !== undefined) options.cert = o.cert;
    if (o.key !== undefined) options.key = o.key;
    return options;
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    this.generation += 1;
    this.attempt = 0;
    this.count.connects += 1;
    this.loggedReason = null;
    this.pendingReason = null;
    this.log.info(
      { url: this.options.url, client_id: this.options.clientId, session_present: connack.sessionPresent },
      "collector: MQTT connected",
    );
    // A resumed session still holds the subscriptions; subscribing again would only resend retained status.
    if (connack.sessionPresent) return;
    client.subscribe([...this.options.topics], { qos: 1 }, (error, granted) => {
      if (error) {
        this.log.error({ reason: describeMqttFailure(error) }, "collector: subscribe failed");
        return;
      }
      for (const g of granted ?? []) {
        if (g.qos > 2) {
          this.log.error(
            { topic: g.topic, reason_code: g.qos },
            "collector: broker refused the subscription (shared subscriptions need MQTT 5 and broker support)",
          );
        }
      }
    });
  }

  private onClose(): void {
    const reason = this.pendingReason ?? "connection closed by the broker or the network";
    this.pendingReason = null;
    if (this.ending) return;
    this.count.disconnects += 1;
    if (reason !== this.loggedReason) {
      this.log.warn(
        { url: this.options.url, reason },
        "collector: MQTT disconnected; reconnecting with backoff",
      );
      this.loggedReason = reason;
    }
    const delay = reconnectDelay(
      this.attempt,
      this.options.reconnect ?? DEFAULT_RECONNECT,
      this.options.random,
    );
    this.attempt += 1;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      const client = this.client;
      if (this.ending || !client || client.connected) return;
      client.reconnect();
    }, delay);
  }

  /** Drop the connection as a network failure would; the close handler reconnects with backoff. */
  private dropConnection(reason: string): void {
    const client = this.client;
    if (!client?.connected) return;
    this.pendingReason = reason;
    this.generation += 1;
    client.stream.destroy();
  }
}
