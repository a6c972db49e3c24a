import { QosProbeError } from "../errors.js";
import type { Method } from "./prober.js";

/** The STAMP well-known port (RFC 8762 §4.1, shared with TWAMP-light). */
export const STAMP_DEFAULT_PORT = 862;

export interface Target {
  method: Method;
  host: string;
  port?: number;
  url?: string;
}

/**
 * Parse `stamp://host:port`, `icmp://host`, `tcp://host:port`, `http(s)://…` into a method and an
 * address. WHATWG URL does the parsing (IPv6 brackets, ports); we only check what each method needs.
 */
export function parseTarget(text: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // WHATWG URL refuses a port over 65535 as an invalid URL: name the port, not the whole URL.
    const port = /^[a-z][a-z0-9+.-]*:\/\/(?:\[[^\]]*\]|[^/:?#]*):(\d+)(?:[/?#]|$)/i.exec(text)?.[1];
    if (port !== undefined && Number(port) > 65_535) {
      throw new QosProbeError("PROBE_TARGET", `port ${port} in "${text}" is not a UDP/TCP port (1–65535)`, {
        hint: `give the port the target listens on (STAMP's well-known port is ${STAMP_DEFAULT_PORT})`,
      });
    }
    throw new QosProbeError("PROBE_TARGET", `not a target URL: "${text}"`, {
      hint: "write it as stamp://HOST:PORT, icmp://HOST, tcp://HOST:PORT or https://HOST/PATH",
    });
  }
  const scheme = url.protocol.replace(/:$/, "");
  // URL keeps IPv6 literals bracketed; sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) {
    throw new QosProbeError("PROBE_TARGET", `target "${text}" has no host`, {
      hint: `write it as ${scheme}://HOST${scheme === "icmp" ? "" : ":PORT"}; IPv6 in brackets: ${scheme}://[2001:db8::1]`,
    });
  }
  const port = url.port === "" ? undefined : Number(url.port);
  // Hints must be URLs the CLI accepts again: IPv6 literals go back into brackets.
  const shown = host.includes(":") ? `[${host}]` : host;
  if (port === 0) {
    throw new QosProbeError("PROBE_TARGET", `port 0 in "${text}" is not a port a probe can send to`, {
      hint: `give the port the target listens on, e.g. ${scheme}://${shown}:${scheme === "stamp" ? STAMP_DEFAULT_PORT : "PORT"}`,
    });
  }
  switch (scheme) {
    case "stamp":
      return { method: "stamp", host, port: port ?? STAMP_DEFAULT_PORT };
    case "icmp":
      if (port !== undefined) {
        throw new QosProbeError("PROBE_TARGET", `ICMP has no ports: "${text}"`, {
          hint: `use icmp://${shown}`,
        });
      }
      return { method: "icmp", host };
    case "tcp":
      if (port === undefined) {
        throw new QosProbeError("PROBE_TARGET", `tcp target needs a port: "${text}"`, {
          hint: `use tcp://${shown}:PORT`,
        });
      }
      return { method: "tcp", host, port };
    case "http":
    case "https":
      return { method: "http", host, port: port ?? (scheme === "https" ? 443 : 80), url: url.toString() };
    default:
      throw new QosProbeError("PROBE_TARGET", `unknown target scheme "${scheme}:" in "${text}"`, {
        hint: "supported: stamp://, icmp://, tcp://, http://, https://",
      });
  }
}

/** The canonical text form of a target, as recorded in results. */
export function formatTarget(t: Target): string {
  if (t.url) return t.url;
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  return t.port === undefined ? `${t.method}://${host}` : `${t.method}://${host}:${t.port}`;
}

/** Parse a listen address "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4 interfaces). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new QosProbeError("USAGE", `not a listen address: "${text}"`, {
      hint: "write HOST:PORT, e.g. 0.0.0.0:862, [::]:862 or 127.0.0.1:8620",
    });
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}
