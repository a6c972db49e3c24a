import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ProbeFaultError, QosProbeError } from "../errors.js";
import type { ProbeSpec } from "./prober.js";

export interface ResolvedHost {
  address: string;
  family: 4 | 6;
}

/**
 * The family of an address literal that contradicts the asked `family`, or undefined (a name, no
 * family asked, or the same family). Shared by resolveHost, `test --family` and validate, so the three
 * refuse the same targets.
 */
export function literalFamilyConflict(host: string, family: 4 | 6 | undefined): 4 | 6 | undefined {
  const literal = isIP(host);
  return family !== undefined && (literal === 4 || literal === 6) && literal !== family ? literal : undefined;
}

/**
 * Resolve a probe target once, before measuring: name lookup time must not be counted as network
 * delay, and a bad name is a target error rather than a run of lost packets. Literals pass through;
 * a literal of the other family than `spec.family` asks for is refused.
 */
export async function resolveHost(
  spec: Pick<ProbeSpec, "host" | "family">,
  signal: AbortSignal,
): Promise<ResolvedHost> {
  const literal = isIP(spec.host);
  if (literal === 4 || literal === 6) {
    if (literalFamilyConflict(spec.host, spec.family) !== undefined) {
      throw new QosProbeError(
        "PROBE_TARGET",
        `${spec.host} is an IPv${literal} address but family is ${spec.family}`,
      );
    }
    return { address: spec.host, family: literal };
  }
  // dns.lookup takes no AbortSignal; race it so an abort is not held up by a slow resolver.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const found = await Promise.race([lookup(spec.host, { family: spec.family ?? 0 }), aborted]);
    return { address: found.address, family: found.family === 6 ? 6 : 4 };
  } catch (err) {
    if (signal.aborted) throw err;
    // A name that does not resolve is a fault of the measurement, not path loss (issue 9).
    throw new ProbeFaultError("NAME_UNRESOLVABLE", `cannot resolve ${spec.host}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
