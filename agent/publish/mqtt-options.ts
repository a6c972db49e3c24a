import type { IClientOptions } from "mqtt";
import { QosProbeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ReconnectBackoff } from "./mqtt-reconnect.js";

/** The publisher's options, and how they become mqtt.js client options. */

export const DEFAULT_MAX_IN_FLIGHT = 100;
/** mqtt.js message ids are 16-bit: more unacknowledged publishes than this overwrite each other. */
export const MAX_MESSAGE_IDS = 65_535;
export const DEFAULT_SESSION_EXPIRY_S = 24 * 60 * 60;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * MQTT 5 Will Delay: the broker waits this long before declaring us offline, and drops the Will if we
 * reconnect in time. Without it a broker restart (session taken over on reconnect) publishes a stale
 * "offline" for an agent that is back a second later.
 */
export const WILL_DELAY_S = 5;

export interface MqttWill {
  topic: string;
  payload: string | Buffer;
  retain: boolean;
  qos: 0 | 1 | 2;
}

export interface MqttPublisherOptions {
  /** mqtt://host:1883 or mqtts://host:8883 */
  url: string;
  /** 5 for Mosquitto/EMQX; 4 (3.1.1) for the embedded aedes broker of the demo. */
  protocolVersion: 4 | 5;
  /** Stable across restarts, so the broker resumes the same session. */
  clientId: string;
  username?: string;
  password?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Seconds. */
  keepalive: number;
  will: MqttWill;
  /** MQTT 5 session expiry in seconds (default one day): the broker keeps the session through outages. */
  sessionExpiryInterval?: number;
  /** Unacknowledged publishes at once (default 100, at most 65,535: mqtt.js message ids are 16-bit). */
  maxInFlight?: number;
  reconnect?: ReconnectBackoff;
  connect_timeout_ms?: number;
  log?: Logger;
  /**
   * "required" (default): a PUBACK only moves a record to "awaiting receipt"; the collector's store
   * receipt deletes it. "off": the PUBACK deletes it (for a collector that sends no receipts).
   */
  receipts?: "required" | "off";
  /** Topic filters subscribed at QoS 1 on every connect (the store receipt topic); deliveries are `message` events. */
  subscriptions?: readonly string[];
  /** Jitter source, injectable for tests. */
  random?: () => number;
}

/**
 * mqtt.js options for our publisher: a persistent session (`clean: false`, and for MQTT 5 a session
 * expiry) under a stable client id, so in-flight QoS 1 state survives a reconnect; mqtt.js's own
 * reconnect off (`reconnectPeriod: 0`) because the publisher schedules reconnects with backoff.
 */
export function toClientOptions(o: MqttPublisherOptions): IClientOptions {
  const maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_MESSAGE_IDS) {
    throw new QosProbeError(
      "USAGE",
      `maxInFlight must be an integer in 1..${MAX_MESSAGE_IDS}, got ${maxInFlight}`,
    );
  }
  const options: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    clean: false,
    keepalive: o.keepalive,
    reconnectPeriod: 0,
    connectTimeout: o.connect_timeout_ms ?? DEFAULT_CONNECT_TIMEOUT_MS,
    resubscribe: false,
    will: {
      topic: o.will.topic,
      payload: Buffer.from(o.will.payload),
      qos: o.will.qos,
      retain: o.will.retain,
    },
    rejectUnauthorized: true,
    // mqtt-packet otherwise pre-builds a 2-byte Buffer for each of the 65,536 message ids/lengths
    // on the first packet it writes (≈ 6 MiB of heap kept for the life of the process, measured with
    // a heap snapshot of `npm run bench:agent`'s agent); our rate is a few publishes a second.
    writeCache: false,
  };
  if (o.protocolVersion === 5) {
    options.properties = { sessionExpiryInterval: o.sessionExpiryInterval ?? DEFAULT_SESSION_EXPIRY_S };
    if (options.will) options.will.properties = { willDelayInterval: WILL_DELAY_S };
  }
  return withCredentials(options, o);
}

/** Credentials and TLS material, copied only when given (mqtt.js treats `undefined` keys as set). */
export interface MqttCredentials {
  username?: string;
  password?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export function withCredentials(options: IClientOptions, c: MqttCredentials): IClientOptions {
  if (c.username !== undefined) options.username = c.username;
  if (c.password !== undefined) options.password = c.password;
  if (c.ca !== undefined) options.ca = c.ca;
  if (c.cert !== undefined) options.cert = c.cert;
  if (c.key !== undefined) options.key = c.key;
  return options;
}
