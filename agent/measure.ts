import type { Clock } from "./clock.js";
import type { TestPlan } from "./config/pairs.js";
import { decodeKey, resolveSecret } from "./config/secrets.js";
import type { Logger } from "./log.js";
import { probers } from "./probe/index.js";
import type { ClockSyncState, Prober, ProbeSpec } from "./probe/prober.js";
import { type AgentIdentity, type RunRequest, runProbe } from "./probe/runner.js";
import type { ResultMessage } from "./publish/message.js";
import type { RunOrder } from "./schedule.js";

export interface MeasureContext {
  clock: Clock;
  log: Logger;
  clockSync: ClockSyncState;
  agent: AgentIdentity;
  env: Record<string, string | undefined>;
}

/** What the runner needs for one scheduled run of a configured test. */
export function runRequestFor(
  plan: TestPlan,
  order: RunOrder,
  agent: AgentIdentity,
  authKey?: Buffer,
): RunRequest {
  const t = plan.test;
  const spec: ProbeSpec = {
    method: plan.target.method,
    host: plan.target.host,
    ...(plan.target.port !== undefined ? { port: plan.target.port } : {}),
    ...(plan.target.url !== undefined ? { url: plan.target.url } : {}),
    count: order.count,
    interval_ms: order.interval_ms,
    schedule: t.schedule,
    packet_size_bytes: t.packet_size_bytes,
    dscp: t.dscp,
    loss_timeout_ms: t.loss_timeout_ms,
    ...(t.family !== undefined ? { family: t.family } : {}),
    ...(authKey ? { auth_key: authKey } : {}),
  };
  return {
    test_id: t.id,
    target: plan.target_text,
    spec,
    profile: t.profile,
    diagnostic: t.diagnostic,
    ...(plan.peer ? { peer: { site: plan.peer.id, province: plan.peer.province } } : {}),
    ...(plan.pair ? { distance_km: plan.pair.distance_km } : {}),
    agent,
    ...(order.window ? { interval: order.window } : {}),
  };
}

/**
 * One scheduled run → one result message. A key that cannot be read (file gone, variable unset) is a
 * failed result with the reason, like any other setup error, never a silently missing interval.
 */
export async function measure(plan: TestPlan, order: RunOrder, ctx: MeasureContext): Promise<ResultMessage> {
  const runCtx = { clock: ctx.clock, log: ctx.log, clockSync: ctx.clockSync, signal: order.signal };
  const keyRef = plan.test.method === "stamp" ? plan.peer?.stamp_key : undefined;
  let authKey: Buffer | undefined;
  try {
    if (keyRef) authKey = decodeKey(resolveSecret(keyRef, ctx.env));
  } catch (err) {
    const failing: Prober = async () => {
      throw err;
    };
    return runProbe(failing, runRequestFor(plan, order, ctx.agent), runCtx);
  }
  return runProbe(probers[plan.target.method], runRequestFor(plan, order, ctx.agent, authKey), runCtx);
}
