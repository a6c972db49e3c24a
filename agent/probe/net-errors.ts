/**
 * What a socket error says about a measurement (issue 9): the path is down (an outage: the packet
 * counts as sent and lost, with the reason), the measurement itself is at fault (the target refused,
 * the name does not resolve, TLS failed: `status: "fault"`, out of path loss), or neither is known
 * (plain loss: a timeout, a reset mid-way).
 */
export type NetErrorClass =
  | { kind: "outage"; reason: string }
  | { kind: "fault"; code: string }
  | { kind: "loss" };

/** errno codes that mean "no way to the target from here, now" → sent-and-lost. */
const OUTAGE: Record<string, string> = {
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
  ENETDOWN: "network down",
  EADDRNOTAVAIL: "source address not available",
};

/** "ENETUNREACH" → "network unreachable"; an errno without a reason of ours is kept as it is. */
export function errnoReason(errno: string): string {
  return OUTAGE[errno] ?? errno;
}

/** Name resolution failures (getaddrinfo codes through Node). */
const NAME_FAULTS = new Set(["ENOTFOUND", "EAI_NONAME", "EAI_NODATA", "EAI_FAIL"]);

/**
 * Classify an error thrown by a connect or request. undici wraps socket errors; the errno is looked
 * for on the error and its `cause` chain.
 */
export function classifyNetError(err: unknown): NetErrorClass {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    const outage = OUTAGE[code];
    if (outage) return { kind: "outage", reason: outage };
    if (code === "ECONNREFUSED") return { kind: "fault", code: "TARGET_REFUSED" };
    if (NAME_FAULTS.has(code)) return { kind: "fault", code: "NAME_UNRESOLVABLE" };
    if (isTlsCode(code)) return { kind: "fault", code: "TLS_ERROR" };
  }
  return { kind: "loss" };
}

/** OpenSSL verification codes and Node's TLS error codes. */
function isTlsCode(code: string): boolean {
  return (
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code.startsWith("CERT_") ||
    code.startsWith("UNABLE_TO_") ||
    code === "DEPTH_ZERO_SELF_SIGNED_CERT" ||
    code === "SELF_SIGNED_CERT_IN_CHAIN" ||
    code === "HOSTNAME_MISMATCH"
  );
}
