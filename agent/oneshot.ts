import { isIP } from "node:net";
import { systemClock } from "./clock.js";
import { readKeyFile } from "./config/secrets.js";
import { QosProbeError } from "./errors.js";
import { formatResult } from "./format.js";
import { readClockSync } from "./host/clock-sync.js";
import type { Logger } from "./log.js";
import { probers } from "./probe/index.js";
import { checkPingSize, checkStampSize } from "./probe/limits.js";
import type { ProbeSpec, SendSchedule } from "./probe/prober.js";
import { literalFamilyConflict } from "./probe/resolve.js";
import { runProbe } from "./probe/runner.js";
import { formatTarget, parseTarget } from "./probe/target.js";
import { Progress } from "./progress.js";
import type { ProfileId, ResultMessage } from "./publish/message.js";
import { VERSION } from "./version.js";

export interface OneShotOptions {
  target: string;
  count: number;
  interval_ms: number;
  packet_size_bytes: number;
  dscp: number;
  loss_timeout_ms: number;
  schedule: SendSchedule;
  /** Resolve and measure this address family only. */
  family?: 4 | 6;
  profile: ProfileId;
  auth_key_file?: string;
  ssid?: number;
  json: boolean;
  progress: boolean;
}

/**
 * `qos-probe test URL`: one measurement now. Always diagnostic: a one-shot run has no configured
 * pair, so it cannot claim the spec's pair rule, but it is judged against the profile for reference.
 */
/**
 * The fix for a failed one-shot run, by the result's error code, when the error brought no hint of its
 * own (TCP refusals and TLS failures are recorded as faults, not thrown).
 */
const FIXES: Record<string, string> = {
  TARGET_REFUSED: "nothing accepts connections there: check the address and port, and that the service runs",
  NAME_UNRESOLVABLE:
    "check the host name (getent hosts NAME shows what this host resolves), or give an IP address",
  TLS_ERROR:
    "the server's certificate is not trusted here: check that the URL's host name is in the certificate, or add its CA (NODE_EXTRA_CA_CERTS)",
  PORT_UNREACHABLE:
    "check that the peer's reflector runs (qos-probe reflect) and listens on this address family and port",
  REFLECTOR_UNREACHABLE:
    "check that the peer's reflector runs (qos-probe reflect) and listens on this address family and port",
  AUTH_MISMATCH: "the sender's --auth-key-file and the reflector's key differ",
  PROBE_TARGET: "check the target: stamp://HOST:PORT, icmp://HOST, tcp://HOST:PORT or https://HOST/PATH",
};
const FALLBACK_FIX = "run again with --log-level debug for the details";

/**
 * One line for a run that did not measure (status error or fault): target, code, message and the fix,
 * e.g. `stamp://192.0.2.7:862: REFLECTOR_UNREACHABLE: … nothing listens there — fix: check that …`.
 */
export function failureLine(result: ResultMessage, thrown: unknown): string | undefined {
  if (result.status === "ok") return undefined;
  const code = result.error?.code ?? result.status.toUpperCase();
  const message = result.error?.message ?? "the probe did not measure";
  const own = thrown instanceof QosProbeError ? thrown.hint : undefined;
  return `${result.test.target}: ${code}: ${message} — fix: ${own ?? FIXES[code] ?? FALLBACK_FIX}`;
}

/**
 * `-s` outside what a STAMP packet or a ping echo can be is a usage error (exit 2) before anything is
 * sent: the prober's own refusal (checkStampSize, checkPingSize), judged for the family of the literal or --family, a
 * host name as IPv4 (the prober checks again with the family it resolved).
 */
function refuseSize(spec: ProbeSpec, family: 4 | 6): void {
  try {
    if (spec.method === "stamp")
      checkStampSize(
        spec.packet_size_bytes,
        family,
        spec.auth_key?.length ? "authenticated" : "unauthenticated",
      );
    else if (spec.method === "icmp") checkPingSize(spec.packet_size_bytes, family);
  } catch (err) {
    if (!(err instanceof QosProbeError)) throw err;
    throw new QosProbeError("USAGE", `-s ${spec.packet_size_bytes}: ${err.message}`, {
      hint: err.hint ?? "",
    });
  }
}

export async function runOneShot(
  opts: OneShotOptions,
  log: Logger,
): Promise<{ result: ResultMessage; text: string; failure?: string; interrupted: boolean }> {
  const target = parseTarget(opts.target);
  const literal = literalFamilyConflict(target.host, opts.family);
  if (literal !== undefined) {
    // Every method refuses it (STAMP would otherwise measure the literal's family regardless).
    throw new QosProbeError(
      "USAGE",
      `--family ${opts.family} contradicts the target ${opts.target}: ${target.host} is an IPv${literal} address`,
      {
        hint: `drop --family, or give an IPv${opts.family} address or a host name that resolves to one`,
      },
    );
  }
  const spec: ProbeSpec = {
    method: target.method,
    host: target.host,
    ...(target.port !== undefined ? { port: target.port } : {}),
    ...(target.url !== undefined ? { url: target.url } : {}),
    count: opts.count,
    interval_ms: opts.interval_ms,
    schedule: opts.schedule,
    packet_size_bytes: opts.packet_size_bytes,
    dscp: opts.dscp,
    loss_timeout_ms: opts.loss_timeout_ms,
    ...(opts.ssid !== undefined ? { ssid: opts.ssid } : {}),
    ...(opts.family !== undefined ? { family: opts.family } : {}),
  };
  if (opts.auth_key_file) {
    if (target.method !== "stamp") {
      throw new QosProbeError("USAGE", "--auth-key-file only applies to stamp:// targets");
    }
    spec.auth_key = await readKeyFile(opts.auth_key_file);
  }
  refuseSize(spec, opts.family ?? (isIP(target.host) === 6 ? 6 : 4));

  let thrown: unknown;
  const progress = new Progress(opts.count);
  const showProgress = opts.progress && progress.enabled;
  // Ctrl-C ends the run early and still prints what was measured, flagged "aborted" (packets in
  // flight are left out, as in the agent), the way ping prints its statistics; a second Ctrl-C, once
  // this handler is gone, exits at once.
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  process.once("SIGINT", onInterrupt);
  const result = await runProbe(
    probers[target.method],
    {
      test_id: "oneshot",
      target: formatTarget(target),
      spec,
      profile: opts.profile,
      diagnostic: true,
      agent: { site: "oneshot", operator: "local", province: "000000", version: VERSION },
    },
    {
      clock: systemClock,
      log,
      clockSync: await readClockSync(),
      signal: interrupt.signal,
      ...(showProgress ? { onSample: (s) => progress.onSample(s) } : {}),
      onFailure: (err) => {
        thrown = err;
      },
    },
  ).finally(() => process.off("SIGINT", onInterrupt));
  if (showProgress) progress.done();
  const failure = failureLine(result, thrown);
  // A run that did not measure is one line with its fix; --json keeps the whole result for scripts.
  const text = opts.json
    ? JSON.stringify(result, null, 2)
    : failure
      ? ""
      : formatResult(result, { color: Boolean(process.stdout.isTTY) });
  return { result, text, ...(failure ? { failure } : {}), interrupted: interrupt.signal.aborted };
}
