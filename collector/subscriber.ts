import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from "mqtt";
import { QosProbeError } from "../agent/errors.js";
import type { Logger } from "../agent/log.js";
import { withCredentials } from "../agent/publish/mqtt-options.js";
import { describeMqttFailure, type ReconnectBackoff } from "../agent/publish/mqtt-reconnect.js";
import { Reconnector } from "../agent/publish/reconnector.js";
import { AckWindow, type Disposition } from "./ack-window.js";

export type { Disposition } from "./ack-window.js";

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
  /** Deliveries handled at once on this connection, waiting for the store (default IN_FLIGHT). */
  inFlight?: number;
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
  /** Connects whose CONNACK said session_present (we subscribe again anyway). */
  sessions_resumed: number;
  disconnects: number;
}

export function zeroSubscriberCounters(): SubscriberCounters {
  return {
    deliveries: 0,
    acked: 0,
    withheld: 0,
    redelivered: 0,
    connects: 0,
    sessions_resumed: 0,
    disconnects: 0,
  };
}

const END_TIMEOUT_MS = 2_000;
/** A refused SUBSCRIBE is tried again this often while the connection lasts. */
const SUBSCRIBE_RETRY_MS = 5_000;

/**
 * Deliveries per connection handled at once (and our MQTT 5 Receive Maximum): enough for the ingest
 * to fill large batches, bounded so a backlog cannot pile up in memory.
 */
export const IN_FLIGHT = 1000;

/**
 * Passed to mqtt.js's `handleMessage` callback: with an error it skips its own PUBACK and reads the
 * next packet; the PUBACK is ours to send once the message is stored. One shared instance: mqtt.js
 * only tests it for truthiness, and a fresh Error per delivery would capture a stack each time.
 */
const ACK_LATER = new Error("acknowledged by the collector once stored");

/**
 * An MQTT client that acknowledges a QoS 1 delivery only when the handler says it is safe.
 *
 * mqtt.js processes incoming packets strictly one after another and sends the PUBACK from the
 * `handleMessage` callback, which would make every delivery wait for its own store write. Instead the
 * callback is called with ACK_LATER as soon as the AckWindow has room, so many deliveries reach the
 * ingest together (one INSERT for all), and the PUBACKs are written here, in arrival order, once each
 * is stored. This works for MQTT 5 and 3.1.1 alike (the demo's aedes broker speaks only 3.1.1). A
 * delivery that cannot be stored closes the connection so the resumed session delivers it again.
 */
export class MqttSubscriber {
  private readonly options: SubscriberOptions;
  private readonly log: Logger;
  private client: MqttClient | null = null;
  /** The live connection's deliveries; replaced on every connect so no ack crosses connections. */
  private window: AckWindow | null = null;
  private paused = false;
  private isSubscribed = false;
  private readonly reconnector: Reconnector;
  private ending = false;
  private readonly count: SubscriberCounters = zeroSubscriberCounters();

  constructor(options: SubscriberOptions) {
    this.options = options;
    this.log = options.log;
    // Without mqtt.js's stores: what was unacknowledged comes again from the resumed session.
    this.reconnector = new Reconnector({
      backoff: options.reconnect,
      random: options.random,
      reconnect: (client) => client.reconnect(),
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get clientId(): string {
    return this.options.clientId;
  }

  /** Connected, and this connection's SUBACK granted every subscription (QoS < 0x80). */
  get subscribed(): boolean {
    return this.isSubscribed && this.connected;
  }

  /** QoS 1 publish on this connection (store receipts); rejects when not connected or refused. */
  publish(topic: string, payload: Buffer): Promise<void> {
    const client = this.client;
    if (!client?.connected || this.ending)
      return Promise.reject(new QosProbeError("MQTT", `not connected: ${topic} not published`));
    return new Promise<void>((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (error) =>
        error
          ? reject(new QosProbeError("MQTT", `publish to ${topic} failed: ${describeMqttFailure(error)}`))
          : resolve(),
      );
    });
  }

  counters(): SubscriberCounters {
    return { ...this.count };
  }

  start(): void {
    if (this.client) throw new QosProbeError("USAGE", "MQTT subscriber already started");
    const client = connect(this.options.url, this.clientOptions());
    client.handleMessage = (packet, release) => {
      const acks = this.window;
      // Left over from a connection already dropped: not handled, never released; it comes again.
      if (!acks || acks.isClosed) return;
      this.count.deliveries += 1;
      if (packet.dup) this.count.redelivered += 1;
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      const outcome = this.options.handler(packet.topic, payload).catch((err: unknown) => {
        this.log.error({ err, topic: packet.topic }, "collector: delivery handler failed");
        return "retry" as const;
      });
      if (packet.qos === 0 || packet.messageId === undefined) {
        // Published at QoS 0: there is nothing to acknowledge, and nothing the broker could redeliver.
        void outcome.then(() => release());
        return;
      }
      const slot = acks.add(packet.messageId, () => release(ACK_LATER));
      void outcome.then((disposition) => acks.settle(slot, disposition));
    };
    client.on("connect", (connack) => this.onConnect(client, connack));
    client.on("close", () => this.onClose());
    this.reconnector.attach(client);
    this.client = client;
  }

  /** Take no new deliveries (shutdown): those already taken are still acknowledged once stored. */
  pause(): void {
    this.paused = true;
    this.window?.pause();
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client || this.ending) return;
    this.pause();
    this.ending = true;
    this.reconnector.stop();
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
      options.properties = { sessionExpiryInterval: o.sessionExpiryS, receiveMaximum: this.inFlight() };
    }
    return withCredentials(options, o);
  }

  private inFlight(): number {
    return this.options.inFlight ?? IN_FLIGHT;
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    this.window?.close();
    const acks = new AckWindow({
      limit: this.inFlight(),
      ack: (ids) => this.sendAcks(client, acks, ids),
      refuse: (unacked) => {
        this.count.withheld += unacked;
        // Shutting down: the session keeps them for the next start; no reconnect now.
        if (this.paused) return;
        this.dropConnection("a delivery could not be stored; reconnecting so the broker redelivers it");
      },
    });
    if (this.paused) acks.pause();
    this.window = acks;
    this.reconnector.connected();
    this.count.connects += 1;
    if (connack.sessionPresent) this.count.sessions_resumed += 1;
    this.log.info(
      { url: this.options.url, client_id: this.options.clientId, session_present: connack.sessionPresent },
      "collector: MQTT connected",
    );
    this.subscribe(client, acks);
  }

  /**
   * Subscribe on every connect, whatever `session_present` says: Mosquitto 2.0.11 resumes a session
   * after a restart without its shared subscriptions, and then nothing would reach us (issue 7). Only
   * a SUBACK granting every filter makes the connection `subscribed`; a refusal is logged with its
   * reason code and retried while this connection lasts.
   */
  private subscribe(client: MqttClient, acks: AckWindow): void {
    this.isSubscribed = false;
    client.subscribe([...this.options.topics], { qos: 1 }, (error, granted) => {
      if (acks !== this.window) return; // answered on a connection since replaced
      const refused = (granted ?? []).filter((g) => g.qos >= 0x80);
      for (const g of refused) {
        this.log.error(
          { topic: g.topic, reason_code: g.qos },
          "collector: broker refused the subscription (shared subscriptions need MQTT 5 and broker support)",
        );
      }
      if (error && refused.length === 0)
        this.log.error({ reason: describeMqttFailure(error) }, "collector: subscribe failed");
      if (error || refused.length > 0 || (granted ?? []).length === 0) {
        const retry = setTimeout(() => {
          if (acks === this.window && client.connected && !this.ending) this.subscribe(client, acks);
        }, SUBSCRIBE_RETRY_MS);
        retry.unref();
        return;
      }
      this.isSubscribed = client.connected;
      this.log.info(
        { client_id: this.options.clientId, granted: granted?.map((g) => ({ topic: g.topic, qos: g.qos })) },
        "collector: subscribed",
      );
    });
  }

  /**
   * Write the PUBACKs of stored deliveries. A successful PUBACK is four fixed bytes in MQTT 3.1.1 and 5
   * alike (5.0 §3.4.2.1: reason code and properties may be omitted when the reason is Success); mqtt.js
   * has no public call to send one later, and the bytes are too few to justify mqtt-packet as a dependency.
   */
  private sendAcks(client: MqttClient, acks: AckWindow, ids: readonly number[]): void {
    if (acks !== this.window || !client.connected) return;
    const bytes = Buffer.allocUnsafe(4 * ids.length);
    ids.forEach((id, i) => {
      bytes.writeUInt8(0x40, 4 * i);
      bytes.writeUInt8(0x02, 4 * i + 1);
      bytes.writeUInt16BE(id, 4 * i + 2);
    });
    client.stream.write(bytes);
    this.count.acked += ids.length;
    // mqtt.js reschedules its ping only on PINGRESP and acks *received*, so during a backlog it sends
    // PINGREQ, and Mosquitto queues the PINGRESP behind every publish already queued for us (it does not
    // honour Receive Maximum): "Keepalive timeout". A PUBACK we send answers a PUBLISH just received, so
    // both directions are proven alive, and MQTT asks for a PINGREQ only when no other packet is sent
    // (5.0 §3.1.2.10).
    client.reschedulePing(true);
  }

  private onClose(): void {
    this.isSubscribed = false;
    this.window?.close();
    this.window = null;
    const { reason, repeated } = this.reconnector.closed();
    if (this.ending) return;
    this.count.disconnects += 1;
    if (!repeated) {
      this.log.warn(
        { url: this.options.url, reason },
        "collector: MQTT disconnected; reconnecting with backoff",
      );
    }
    this.reconnector.schedule();
  }

  /** Drop the connection as a network failure would; the close handler reconnects with backoff. */
  private dropConnection(reason: string): void {
    const client = this.client;
    if (!client?.connected) return;
    this.reconnector.recordReason(reason);
    this.window?.close();
    this.window = null;
    client.stream.destroy();
  }
}
