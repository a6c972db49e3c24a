import { EventEmitter } from "node:events";
import { connect, ErrorWithReasonCode, type IConnackPacket, type MqttClient, type Packet } from "mqtt";
import { QosProbeError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import {
  DEFAULT_MAX_IN_FLIGHT,
  MAX_MESSAGE_IDS,
  type MqttPublisherOptions,
  toClientOptions,
} from "./mqtt-options.js";
import { DEFAULT_RECONNECT, describeMqttFailure, reconnectDelay } from "./mqtt-reconnect.js";
import type { Outbox, OutboxRecord } from "./outbox.js";
import { Reconnector } from "./reconnector.js";

export type { MqttPublisherOptions, MqttWill } from "./mqtt-options.js";
export { type ReconnectBackoff, reconnectDelay } from "./mqtt-reconnect.js";

export interface PublisherCounters {
  /** Outbox records handed to mqtt.js (re-sends after a failure count again). */
  published: number;
  /** Successful PUBACKs, passed to the outbox (`published`, or `ack` when receipts are off). */
  acked: number;
  /** Publishes that came back with an error (a PUBACK reason code ≥ 0x80, or 16: see below). */
  failed: number;
  /** PUBACKs with reason code 16, No matching subscribers: the broker took it and gave it to nobody. */
  not_delivered: number;
}

/**
 * MQTT 5 §3.4.2.1 PUBACK reason 0x10: "the message is accepted but there are no subscribers". mqtt.js
 * reports it as a success (handlers/ack.js); for a result it means no collector will ever see it.
 */
export const PUBACK_NO_MATCHING_SUBSCRIBERS = 16;

export interface MqttPublisherEvents {
  connected: [];
  disconnected: [reason: string];
  /** A delivery on one of `options.subscriptions` (store receipts). */
  message: [topic: string, payload: Buffer];
}

const END_TIMEOUT_MS = 2_000;

/**
 * Publishes outbox records at QoS 1 and acks them in the outbox only on PUBACK.
 *
 * Reconnects are ours (mqtt.js `reconnectPeriod: 0`, see Reconnector): on every `close` we wait
 * `reconnectDelay(attempt)` and call `client.reconnect()`, handing it its own stores so that publishes in flight at the disconnect are re-sent on the new
 * connection and their callbacks still fire. If the process dies instead, the outbox replays them.
 */
export class MqttPublisher extends EventEmitter<MqttPublisherEvents> {
  private readonly options: MqttPublisherOptions;
  private readonly log: Logger;
  private client: MqttClient | null = null;
  private outbox: Outbox | null = null;
  private readonly inFlight = new Set<number>();
  private readonly counts: PublisherCounters = { published: 0, acked: 0, failed: 0, not_delivered: 0 };
  /**
   * Message ids whose PUBACK carried reason code 16, noted from mqtt.js's `packetreceive` event (emitted
   * synchronously before its ack handler) and read in the publish callback, which gets our PUBLISH back.
   */
  private readonly noSubscribers = new Set<number>();
  private readonly reconnector: Reconnector;
  private failurePauseTimer: NodeJS.Timeout | null = null;
  private failureStreak = 0;
  private loggedPublishFailure: string | null = null;
  private wasConnected = false;
  private disconnectedAt: number | null = null;
  private ending = false;
  private onProgress: (() => void) | null = null;
  /** Set while `connectNow` waits: a connection attempt just failed. */
  private onAttemptFailed: (() => void) | null = null;

  constructor(options: MqttPublisherOptions) {
    super();
    this.options = options;
    this.log = options.log ?? silentLogger();
    this.reconnector = new Reconnector({
      backoff: options.reconnect,
      random: options.random,
      reconnect: (client) =>
        client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore }),
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  counters(): PublisherCounters {
    return { ...this.counts };
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Connect (in the background: the agent keeps measuring while the broker is away). */
  start(): void {
    if (this.client) throw new QosProbeError("USAGE", "MQTT publisher already started");
    const client = connect(this.options.url, toClientOptions(this.options));
    client.on("packetreceive", (packet: Packet) => {
      if (packet.cmd === "puback" && packet.reasonCode === PUBACK_NO_MATCHING_SUBSCRIBERS) {
        if (packet.messageId !== undefined) this.noSubscribers.add(packet.messageId);
      }
    });
    client.on("connect", (connack) => this.onConnect(client, connack));
    client.on("message", (topic, payload) => this.emit("message", topic, payload));
    client.on("close", () => this.onClose());
    this.reconnector.attach(client);
    this.client = client;
  }

  /** Pump now: records came back to publish (a receipt timeout), or a receipt may end a stop(). */
  nudge(): void {
    this.pump();
    this.onProgress?.();
  }

  /** Publish `outbox` records as they arrive, keeping at most `maxInFlight` unacknowledged. */
  drain(outbox: Outbox): void {
    if (this.outbox) this.outbox.off("appended", this.pump);
    this.outbox = outbox;
    outbox.on("appended", this.pump);
    this.pump();
  }

  /** A retained QoS 1 message (the status heartbeat); rejects when not connected. */
  publishRetained(topic: string, payload: string | Buffer): Promise<void> {
    const client = this.client;
    if (!client?.connected || this.ending) {
      return Promise.reject(
        new QosProbeError("MQTT", `not connected to ${this.options.url}: retained ${topic} not sent`, {
          hint: "publish the status again on the publisher's 'connected' event",
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      client.publish(topic, payload, { qos: 1, retain: true }, (error) => {
        if (error)
          reject(
            new QosProbeError("MQTT", `retained publish to ${topic} failed: ${describeMqttFailure(error)}`, {
              cause: error,
            }),
          );
        else resolve();
      });
    });
  }

  /**
   * One last connection attempt, for a stop: the pending reconnect starts now instead of after its
   * backoff delay (or the attempt under way is awaited). Resolves true once connected; false as soon
   * as the attempt fails (a refused port: milliseconds) or after `timeoutMs` (a broker that does not
   * answer). A broker that came back while we waited out a backoff still gets the flush and goodbye.
   */
  connectNow(timeoutMs: number): Promise<boolean> {
    const client = this.client;
    if (!client || this.ending) return Promise.resolve(false);
    if (client.connected) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off("connected", onConnected);
        this.onAttemptFailed = null;
        resolve(ok);
      };
      const onConnected = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.once("connected", onConnected);
      this.onAttemptFailed = () => done(false);
      this.reconnector.now();
    });
  }

  /**
   * Keep draining until the outbox is empty and every publish is acknowledged, or until `deadline_ms`
   * passes, or at once when (or as soon as) there is no connection: nothing could be acknowledged, and
   * waiting for a reconnect made a stop against an absent broker take the whole deadline. Then
   * disconnect. What is left stays in the outbox for the next start.
   */
  async stop(options: { deadline_ms: number } = { deadline_ms: 5_000 }): Promise<void> {
    const client = this.client;
    if (!client || this.ending) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.onProgress = null;
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, options.deadline_ms));
      this.onProgress = () => {
        if (!client.connected || (this.inFlight.size === 0 && (this.outbox?.depth() ?? 0) === 0)) finish();
      };
      this.log.debug(
        { depth: this.outbox?.depth() ?? 0, awaiting_receipt: this.outbox?.awaitingReceipt() ?? 0 },
        "stopping: waiting for PUBACKs and store receipts",
      );
      this.onProgress();
    });
    this.ending = true;
    this.reconnector.stop();
    if (this.failurePauseTimer) clearTimeout(this.failurePauseTimer);
    this.outbox?.off("appended", this.pump);
    const leftover = { in_flight: this.inFlight.size, depth: this.outbox?.depth() ?? 0 };
    // Forced when nothing more can be acknowledged: a graceful end would wait for PUBACKs forever.
    const force = leftover.in_flight > 0 || !client.connected;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, END_TIMEOUT_MS);
      client.end(force, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.log.info({ ...leftover, ...this.counts }, "MQTT publisher stopped");
  }

  /**
   * Subscribe on every connect, whatever `session_present` says: a broker may resume a session without
   * its subscriptions (Mosquitto 2.0.11 after a restart). A refused filter is logged with its code.
   */
  private subscribe(client: MqttClient): void {
    const topics = this.options.subscriptions ?? [];
    if (topics.length === 0) return;
    client.subscribe([...topics], { qos: 1 }, (error, granted) => {
      if (error) {
        this.log.error({ topics, reason: describeMqttFailure(error) }, "MQTT subscribe failed");
        return;
      }
      for (const g of granted ?? []) {
        if (g.qos >= 0x80)
          this.log.error({ topic: g.topic, reason_code: g.qos }, "broker refused the subscription");
      }
    });
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    this.subscribe(client);
    this.reconnector.connected();
    this.log.info(
      {
        url: this.options.url,
        session_present: connack.sessionPresent,
        down_ms:
          this.disconnectedAt === null ? undefined : Math.round(performance.now() - this.disconnectedAt),
        in_flight: this.inFlight.size,
      },
      "MQTT connected",
    );
    this.wasConnected = true;
    this.disconnectedAt = null;
    this.emit("connected");
    this.pump();
    this.onProgress?.();
  }

  private onClose(): void {
    const { reason, repeated } = this.reconnector.closed();
    this.onProgress?.(); // a stop() waiting for acknowledgements ends: none can come now
    this.onAttemptFailed?.();
    if (this.ending) return;
    if (this.wasConnected) {
      this.wasConnected = false;
      this.disconnectedAt = performance.now();
      this.log.warn({ url: this.options.url, reason, in_flight: this.inFlight.size }, "MQTT disconnected");
      this.emit("disconnected", reason);
    } else if (!repeated) {
      this.log.warn({ url: this.options.url, reason }, "MQTT connection failed; retrying with backoff");
    } else {
      this.log.debug(
        { url: this.options.url, reason, attempt: this.reconnector.attempt },
        "MQTT connection failed again",
      );
    }
    this.reconnector.schedule();
  }

  private inFlightLimit(client: MqttClient): number {
    const wanted = this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    // MQTT 5 §3.2.2.3.3: the broker's Receive Maximum caps our unacknowledged QoS 1 publishes.
    const brokerMax = client.serverProperties?.receiveMaximum ?? MAX_MESSAGE_IDS;
    return Math.max(1, Math.min(wanted, brokerMax, MAX_MESSAGE_IDS));
  }

  /** Arrow property so it can be an event listener and be removed again. */
  private readonly pump = (): void => {
    const client = this.client;
    const outbox = this.outbox;
    if (!client?.connected || !outbox || this.ending || this.failurePauseTimer) return;
    const limit = this.inFlightLimit(client);
    if (this.inFlight.size >= limit) return;
    let records: readonly OutboxRecord[];
    try {
      records = outbox.peek(limit);
    } catch (error) {
      this.log.debug({ err: error }, "outbox not readable; nothing to publish");
      return;
    }
    for (const record of records) {
      if (this.inFlight.size >= limit || this.failurePauseTimer) break;
      if (!this.inFlight.has(record.seq)) this.send(client, outbox, record);
    }
  };

  private send(client: MqttClient, outbox: Outbox, record: OutboxRecord): void {
    this.inFlight.add(record.seq);
    this.counts.published += 1;
    client.publish(record.topic, record.payload, { qos: 1 }, (error, packet) => {
      this.inFlight.delete(record.seq);
      const messageId = packet?.messageId;
      const noSubscribers = messageId !== undefined && this.noSubscribers.delete(messageId);
      if (this.ending) return;
      if (noSubscribers && !error) {
        this.counts.not_delivered += 1;
        this.onPublishFailed(
          record.seq,
          new ErrorWithReasonCode(
            "Publish not delivered: No matching subscribers (is a collector subscribed?)",
            PUBACK_NO_MATCHING_SUBSCRIBERS,
          ),
        );
      } else if (error) {
        this.onPublishFailed(record.seq, error);
      } else {
        this.counts.acked += 1;
        this.failureStreak = 0;
        this.loggedPublishFailure = null;
        const done =
          this.options.receipts === "required" ? outbox.published(record.seq) : outbox.ack(record.seq);
        done.catch((ackError: unknown) => {
          // The record stays on disk and is sent again after a restart: a duplicate, not a loss.
          this.log.error({ err: ackError, seq: record.seq }, "outbox PUBACK not persisted");
        });
      }
      this.pump();
      this.onProgress?.();
    });
  }

  /** A rejected publish stays in the outbox; pause before retrying so a refusing broker is not hammered. */
  private onPublishFailed(seq: number, error: unknown): void {
    this.counts.failed += 1;
    const reason = describeMqttFailure(error);
    if (reason !== this.loggedPublishFailure) {
      this.log.warn(
        { seq, reason },
        "MQTT publish failed; the record stays in the outbox and will be retried",
      );
      this.loggedPublishFailure = reason;
    }
    if (this.failurePauseTimer) return;
    const delay = reconnectDelay(
      this.failureStreak,
      this.options.reconnect ?? DEFAULT_RECONNECT,
      this.options.random,
    );
    this.failureStreak += 1;
    this.failurePauseTimer = setTimeout(() => {
      this.failurePauseTimer = null;
      this.pump();
    }, delay);
  }
}
