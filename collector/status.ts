import * as z from "zod";
import type { SiteTopics } from "../agent/publish/topics.js";
import type { SiteStatusInput } from "./store/store.js";

/**
 * The agent's retained status message (`{root}/{operator}/{province}/{site}/status`): a heartbeat
 * (`online`) or the Last Will (`offline`, which carries little more than the site). Extra keys are fine:
 * newer agents may say more.
 */
const StatusMessage = z.looseObject({
  schema: z.literal("qosprobe.status/1"),
  state: z.enum(["online", "offline"]),
  site: z.string(),
  operator: z.string(),
  province: z.string(),
  version: z.string().optional(),
  config_version: z.string().nullable().optional(),
  at: z.iso.datetime({ offset: true }).optional(),
  outbox: z
    .looseObject({
      depth: z.number().int().min(0).optional(),
      dropped: z.number().int().min(0).optional(),
    })
    .nullable()
    .optional(),
});

export type StatusParse =
  | { ok: true; status: SiteStatusInput }
  | { ok: false; reason: string }
  | { ok: "empty" };

/**
 * Decide what one status delivery means for `site_status`. An empty payload is a cleared retained
 * message (nothing to record). The topic is what the broker let the sender publish on, so a body
 * naming another site is refused, as for results.
 */
export function parseStatus(where: SiteTopics, payload: Buffer, receivedAt: Date): StatusParse {
  if (payload.length === 0) return { ok: "empty" };
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: `status: invalid JSON: ${(err as Error).message}` };
  }
  const parsed = StatusMessage.safeParse(body);
  if (!parsed.success) return { ok: false, reason: `status: ${z.prettifyError(parsed.error)}` };
  const s = parsed.data;
  for (const field of ["site", "operator", "province"] as const) {
    if (s[field] !== where[field]) {
      return {
        ok: false,
        reason: `status: topic ${field} ${where[field]} does not match ${field} ${s[field]}`,
      };
    }
  }
  const status: SiteStatusInput = {
    operator: s.operator,
    province: s.province,
    site: s.site,
    state: s.state,
    payload: s,
  };
  if (s.state === "online") {
    // A retained heartbeat arrives again on every new subscription: its own time says when it was sent.
    status.last_heartbeat = s.at ? new Date(s.at) : receivedAt;
  }
  if (s.outbox?.depth !== undefined) status.outbox_depth = s.outbox.depth;
  if (s.outbox?.dropped !== undefined) status.dropped = s.outbox.dropped;
  if (s.version !== undefined) status.version = s.version;
  if (typeof s.config_version === "string") status.config_version = s.config_version;
  return { ok: true, status };
}
