import { connect } from "node:net";
import { QosProbeError } from "../errors.js";
import { runAttempts } from "./attempts.js";
import type { Prober, ProbeSpec } from "./prober.js";
import { type ResolvedHost, resolveHost } from "./resolve.js";

/**
 * TCP connect time: from connect() to the handshake completing (SYN → SYN-ACK, one round trip), per
 * connection, `count` connections at the spec's interval. Refused, reset or no answer within the loss
 * timeout is lost. The target is resolved once, so name lookups are not counted as delay.
 */
export const tcp: Prober = async (spec, ctx) => {
  const port = checkTcpSpec(spec);
  const target = await resolveHost(spec, ctx.signal);
  return runAttempts(spec, ctx, (signal) => connectOnce(target, port, signal));
};

/**
 * What a TCP probe cannot honour is refused rather than silently recorded as if it had been.
 * Returns the port to connect to.
 */
export function checkTcpSpec(spec: ProbeSpec): number {
  if (spec.port === undefined || !Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65_535) {
    throw new QosProbeError("PROBE_TARGET", `tcp probe of ${spec.host} needs a port 1..65535`, {
      hint: "write the target as tcp://HOST:PORT",
    });
  }
  rejectDscp(spec, "tcp");
  return spec.port;
}

/**
 * Node's net and undici offer no way to set IP_TOS on a TCP socket, so a DSCP other than 0 could not
 * be put on the wire; refusing keeps results from claiming a marking the packets never had.
 */
export function rejectDscp(spec: Pick<ProbeSpec, "dscp">, method: "tcp" | "http"): void {
  if (spec.dscp !== 0) {
    throw new QosProbeError(
      "PROBE_SETUP",
      `${method} probes cannot set DSCP ${spec.dscp}: Node sockets expose no IP_TOS`,
      {
        hint: `set dscp: 0 for ${method} tests; measure a marked class with stamp (Linux, kernel socket) or icmp`,
      },
    );
  }
}

/** Resolve once the handshake completes; close right away (FIN, as a polite client does). */
export function connectOnce(target: ResolvedHost, port: number, signal: AbortSignal) {
  return new Promise<{ ok: boolean }>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = connect({ host: target.address, port, family: target.family, noDelay: true });
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    });
  });
}
