import type { LookupFunction } from "node:net";
import { Client } from "undici";
import { QosProbeError } from "../errors.js";
import { VERSION } from "../version.js";
import { type AttemptOutcome, runAttempts } from "./attempts.js";
import { noteTarget, type Prober, type ProbeSpec } from "./prober.js";
import { type ResolvedHost, resolveHost } from "./resolve.js";
import { rejectDscp } from "./tcp.js";

/** Bytes of a response body read before the connection is dropped: we time headers, not downloads. */
const BODY_DRAIN_LIMIT = 64 * 1024;

/**
 * HTTP time to response headers, per request, `count` requests at the spec's interval, through undici.
 * Each request gets its own connection, so every sample measures the same thing: TCP (and TLS)
 * handshake plus request → headers; a shared keep-alive connection would make the first sample
 * unlike the rest. A status outside 2xx/3xx, an error, or no headers within the loss timeout is lost.
 * Redirects are not followed (undici's default): a 3xx answers the probe.
 */
export const http: Prober = async (spec, ctx) => {
  const url = targetUrl(spec);
  rejectDscp(spec, "http");
  const target = await resolveHost(
    { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), ...familyOf(spec) },
    ctx.signal,
  );
  noteTarget(ctx.facts, target);
  return runAttempts(spec, ctx, (signal) => requestOnce(url, target, signal));
};

export function targetUrl(spec: Pick<ProbeSpec, "url" | "host" | "port">): URL {
  const text =
    spec.url ?? `http://${spec.host.includes(":") ? `[${spec.host}]` : spec.host}:${spec.port ?? 80}/`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new QosProbeError("PROBE_TARGET", `not an http(s) URL: "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new QosProbeError("PROBE_TARGET", `http probe needs an http:// or https:// URL, got "${text}"`);
  }
  return url;
}

function familyOf(spec: Pick<ProbeSpec, "family">): { family?: 4 | 6 } {
  return spec.family === undefined ? {} : { family: spec.family };
}

/**
 * One request on a fresh connection. The name was resolved before the run; this lookup hands that
 * address to the socket so TLS still verifies and sends SNI for the host name.
 */
export async function requestOnce(
  url: URL,
  target: ResolvedHost,
  signal: AbortSignal,
): Promise<AttemptOutcome> {
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const client = new Client(url.origin, { connect: { lookup } });
  let response: Awaited<ReturnType<Client["request"]>>;
  try {
    response = await client.request({
      method: "GET",
      path: `${url.pathname}${url.search}`,
      headers: { "user-agent": `qos-probe/${VERSION}` },
      signal,
    });
  } catch (err) {
    await client.destroy().catch(() => undefined);
    throw err;
  }
  const ok = response.statusCode >= 200 && response.statusCode < 400;
  const done = response.body
    .dump({ limit: BODY_DRAIN_LIMIT, signal })
    .catch(() => undefined)
    .then(() => client.destroy());
  return { ok, done };
}
