import { connect } from "mqtt";
import type { Logger } from "./log.js";
import { ResultMessage } from "./publish/message.js";
import { StatusMessage } from "./publish/status.js";
import { DEFAULT_TOPIC_ROOT, parseTopic } from "./publish/topics.js";

export interface TailOptions {
  url: string;
  root: string;
  protocol_version: 4 | 5;
  operator?: string;
  site?: string;
  json: boolean;
  username?: string;
  password?: string;
}

/**
 * `qos-probe tail`: live results and status changes from any broker, one line each, for a person at a
 * terminal (or JSON lines with --json). Read-only: a clean, non-persistent session that acks nothing
 * it should not.
 */
export async function runTail(
  opts: TailOptions,
  log: Logger,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const root = opts.root || DEFAULT_TOPIC_ROOT;
  const op = opts.operator ?? "+";
  const site = opts.site ?? "+";
  const client = connect(opts.url, {
    protocolVersion: opts.protocol_version,
    clean: true,
    reconnectPeriod: 2_000,
    ...(opts.username ? { username: opts.username } : {}),
    ...(opts.password ? { password: opts.password } : {}),
  });
  client.on("connect", () => {
    log.info({ url: opts.url }, "connected; waiting for results (Ctrl-C to stop)");
    client.subscribe([`${root}/${op}/+/${site}/result/+`, `${root}/${op}/+/${site}/status`], { qos: 0 });
  });
  client.on("error", (err) => log.warn({ err: err.message }, "MQTT connection problem"));
  client.on("message", (topic, payload) => {
    out.write(`${formatTailLine(root, topic, payload, opts.json)}\n`);
  });
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await client.endAsync();
}

/** One message as one readable line. Pure, so it can be tested without a broker. */
export function formatTailLine(root: string, topic: string, payload: Buffer, json: boolean): string {
  const parsed = parseTopic(root, topic);
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch {
    return `? ${topic}: not JSON (${payload.length} bytes)`;
  }
  if (json) return JSON.stringify({ topic, message: body });
  if (parsed?.kind === "status") {
    const s = StatusMessage.safeParse(body);
    if (!s.success) return `? ${topic}: invalid status message`;
    const st = s.data;
    const extra =
      st.state === "online" ? `  outbox ${st.outbox?.depth ?? "?"} (dropped ${st.outbox?.dropped ?? 0})` : "";
    return `${st.at ?? "-"}  ${st.operator}/${st.site}  ${st.state.toUpperCase()}${st.reason ? ` (${st.reason})` : ""}${extra}`;
  }
  const r = ResultMessage.safeParse(body);
  if (!r.success) return `? ${topic}: not a valid ${ResultMessage.shape.schema.value} message`;
  const m = r.data;
  const to = m.test.peer ? m.test.peer.site : m.test.target;
  const f = (x: number | null, d = 2) => (x === null ? "–" : x.toFixed(d));
  const loss = m.loss_ratio === null ? "–" : `${(m.loss_ratio * 100).toFixed(2)}%`;
  const v = m.verdicts;
  const all = [v.rtt, v.delay_variation, v.loss];
  // "not-judged" (a flag kept the interval out: host-timing, fault, …) is not "insufficient" (too few
  // packets to judge): say which flag, so a reader does not take the host's trouble for thin data.
  const verdict = all.includes("fail")
    ? "FAIL"
    : all.every((x) => x === "pass")
      ? "pass"
      : all.includes("not-judged")
        ? `not judged (${(v.not_judged ?? []).join(", ") || "flagged"})`
        : "insufficient";
  return (
    `${m.interval.start}  ${m.agent.operator}/${m.agent.site} → ${to}  ${m.test.id} (${m.test.method})  ` +
    `seq ${m.seq}  rtt ${f(m.rtt_ms.mean)} ms  dv ${f(m.delay_variation_ms.max_minus_min)} ms  loss ${loss}  ` +
    `${v.profile} ${verdict}${m.test.diagnostic ? " [diagnostic]" : ""}${m.status !== "ok" ? ` ${m.status.toUpperCase()} ${m.error?.message ?? ""}` : ""}`
  );
}
