import type { MqttClient } from "mqtt";
import {
  DEFAULT_RECONNECT,
  describeDisconnectPacket,
  describeMqttFailure,
  type ReconnectBackoff,
  reconnectDelay,
} from "./mqtt-reconnect.js";

export interface ReconnectorOptions {
  backoff?: ReconnectBackoff;
  random?: () => number;
  /**
   * Start the next connection attempt. The publisher hands mqtt.js its own stores so publishes in
   * flight are re-sent; the subscriber reconnects without them (the broker's session redelivers).
   */
  reconnect: (client: MqttClient) => void;
}

/** What `closed()` reports about a connection that just closed. */
export interface ConnectionLoss {
  reason: string;
  /** The same reason was already reported since the last connect: log it quietly, not at warn. */
  repeated: boolean;
}

const UNKNOWN_CLOSE = "connection closed by the broker or the network";

/**
 * Our reconnect loop for an mqtt.js client run with `reconnectPeriod: 0` (mqtt.js retries at one fixed
 * period and offers no backoff hook): remembers why the connection failed, says whether that reason is
 * new since the last connect, and retries after `reconnectDelay(attempt)`.
 */
export class Reconnector {
  private readonly options: ReconnectorOptions;
  private client: MqttClient | null = null;
  private attempts = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Why the current connection attempt failed, from `error` / `disconnect`, consumed on `close`. */
  private pendingReason: string | null = null;
  /** The reason last reported, so identical retries stay quiet. */
  private reportedReason: string | null = null;
  private stopped = false;

  constructor(options: ReconnectorOptions) {
    this.options = options;
  }

  /** Retries since the last successful connect. */
  get attempt(): number {
    return this.attempts;
  }

  /** Record failure reasons from `client`; `schedule()` reconnects it. */
  attach(client: MqttClient): void {
    this.client = client;
    client.on("error", (error) => this.recordReason(describeMqttFailure(error)));
    client.on("disconnect", (packet) => this.recordReason(describeDisconnectPacket(packet.reasonCode)));
  }

  /** The reason the next `close` reports (e.g. when the owner drops the connection on purpose). */
  recordReason(reason: string): void {
    this.pendingReason = reason;
  }

  connected(): void {
    this.attempts = 0;
    this.reportedReason = null;
    this.pendingReason = null;
  }

  /** Call on `close`: the reason it closed, and whether that reason was already reported. */
  closed(): ConnectionLoss {
    const reason = this.pendingReason ?? UNKNOWN_CLOSE;
    this.pendingReason = null;
    const repeated = reason === this.reportedReason;
    this.reportedReason = reason;
    return { reason, repeated };
  }

  /** Reconnect after a capped, jittered delay (replacing a timer already set). */
  schedule(): void {
    if (this.stopped) return;
    const delay = reconnectDelay(
      this.attempts,
      this.options.backoff ?? DEFAULT_RECONNECT,
      this.options.random,
    );
    this.attempts += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const client = this.client;
      if (this.stopped || !client || client.connected) return;
      this.options.reconnect(client);
    }, delay);
  }

  /**
   * Start the pending reconnect now instead of after its backoff delay (a stopping publisher's last
   * try). False when none is pending: connected, stopped, or an attempt already under way.
   */
  now(): boolean {
    const client = this.client;
    if (this.stopped || !this.timer || !client || client.connected) return false;
    clearTimeout(this.timer);
    this.timer = null;
    this.options.reconnect(client);
    return true;
  }

  /** No more reconnects (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
