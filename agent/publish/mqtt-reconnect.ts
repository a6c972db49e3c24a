import { ErrorWithReasonCode, ReasonCodes } from "mqtt";

/** Reconnect pacing for every MQTT client we run: the agent's publisher and the collector's subscribers. */
export interface ReconnectBackoff {
  /** Delay ceiling of the first retry, ms. */
  initial_ms: number;
  /** Largest delay ceiling, ms. */
  max_ms: number;
}

export const DEFAULT_RECONNECT: ReconnectBackoff = { initial_ms: 500, max_ms: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (0-based): the ceiling doubles per attempt up to `max_ms`,
 * and the delay is drawn from [ceiling/2, ceiling] ("equal jitter"), so a fleet of agents cut off by one
 * broker outage does not come back in lockstep, while no agent retries sooner than half the ceiling.
 */
export function reconnectDelay(
  attempt: number,
  backoff: ReconnectBackoff,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(backoff.max_ms, backoff.initial_ms * 2 ** Math.min(Math.max(0, attempt), 40));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * One line saying why a connection or publish failed: the CONNACK / PUBACK / DISCONNECT reason code
 * with its MQTT name, or the socket error code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED …).
 */
export function describeMqttFailure(error: unknown): string {
  if (error instanceof ErrorWithReasonCode) return `${error.message} (reason code ${error.code})`;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

export function describeDisconnectPacket(reasonCode: number | undefined): string {
  const code = reasonCode ?? 0;
  const name = (ReasonCodes as Record<number, string>)[code] || "Normal disconnection";
  return `broker sent DISCONNECT: ${name} (reason code ${code})`;
}
