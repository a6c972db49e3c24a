import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../agent/config/load.js";
import { ConfigError, type ConfigIssue } from "../../../agent/errors.js";
import {
  checkStampSize,
  STAMP_BASE_BYTES,
  STAMP_MAX_DATAGRAM_BYTES,
  stampPacketBytes,
} from "../../../agent/probe/limits.js";
import { AUTH_BASE_BYTES, UNAUTH_BASE_BYTES } from "../../../agent/probe/stamp/packet.js";

/**
 * STAMP packet sizes (review): a size below the mode's base packet was padded and reported as asked,
 * one above the reflector's 9216-byte datagram was dropped there as "malformed". Both are refused by
 * the sender and by validate, at the test's YAML path, with a hint naming both modes' minimum.
 */

const HINT =
  "use at least 72 bytes unauthenticated or 140 authenticated (IPv6: 92 / 160), and at most 9244 (IPv6: 9264)";

function issues(test: Record<string, unknown>, peer: Record<string, unknown> = {}): ConfigIssue[] {
  const yaml = `version: 1
agent: { site: bj-01 }
sites:
  - { id: bj-01, operator: op, province: "110000", reflector: { host: 192.0.2.10 } }
  - ${JSON.stringify({ id: "gz-01", operator: "op", province: "440000", reflector: { host: "192.0.2.20" }, ...peer })}
tests:
  - ${JSON.stringify({ id: "t1", method: "stamp", from: "bj-01", to: "gz-01", rate_pps: 1, continuous: { interval_s: 60 }, ...test })}
`;
  try {
    parseConfig(yaml, "mesh.yaml", { KEY: "00112233445566778899aabbccddeeff" });
    return [];
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map(({ path, message, hint }) => ({
        file: "",
        path,
        message: message.replace(/ at line \d+:\d+$/, ""),
        ...(hint ? { hint } : {}),
      }));
    throw err;
  }
}

describe("STAMP packet size limits", () => {
  it("the base packets are the codec's (RFC 8762 §4.2.1, §4.2.2) and the bounds follow from them", () => {
    expect(STAMP_BASE_BYTES).toEqual({ unauthenticated: UNAUTH_BASE_BYTES, authenticated: AUTH_BASE_BYTES });
    expect(STAMP_MAX_DATAGRAM_BYTES).toBe(9216);
    expect(stampPacketBytes(4, "unauthenticated")).toEqual({ min: 72, max: 9244 });
    expect(stampPacketBytes(4, "authenticated")).toEqual({ min: 140, max: 9244 });
    expect(stampPacketBytes(6, "unauthenticated")).toEqual({ min: 92, max: 9264 });
    expect(stampPacketBytes(6, "authenticated")).toEqual({ min: 160, max: 9264 });
  });

  it("the sender accepts the bounds and refuses one byte past them, with the hint", () => {
    for (const [family, mode, min, max] of [
      [4, "unauthenticated", 72, 9244],
      [4, "authenticated", 140, 9244],
      [6, "unauthenticated", 92, 9264],
      [6, "authenticated", 160, 9264],
    ] as const) {
      expect(() => checkStampSize(min, family, mode)).not.toThrow();
      expect(() => checkStampSize(max, family, mode)).not.toThrow();
      expect(() => checkStampSize(min - 1, family, mode)).toThrow(
        expect.objectContaining({ code: "PROBE_SETUP", hint: HINT }),
      );
      expect(() => checkStampSize(max + 1, family, mode)).toThrow(
        expect.objectContaining({ code: "PROBE_SETUP", hint: HINT }),
      );
    }
    expect(() => checkStampSize(28, 4, "unauthenticated")).toThrow(
      "packet_size_bytes 28 is below the smallest unauthenticated STAMP test packet over IPv4 (72 bytes: 44 STAMP + 28 IP and UDP headers)",
    );
  });

  it("validate refuses 28 and 9300 at tests[0].packet_size_bytes with the hint; 72 and 9244 pass", () => {
    expect(issues({ packet_size_bytes: 28 })).toEqual([
      {
        file: "",
        path: "tests[0].packet_size_bytes",
        message:
          "packet_size_bytes 28 is below the smallest unauthenticated STAMP test packet over IPv4 (72 bytes: 44 STAMP + 28 IP and UDP headers)",
        hint: HINT,
      },
    ]);
    expect(issues({ packet_size_bytes: 9300 })).toEqual([
      {
        file: "",
        path: "tests[0].packet_size_bytes",
        message:
          "packet_size_bytes 9300 is above the largest STAMP test packet a reflector takes over IPv4 (9244 bytes: a 9216-byte datagram + 28 IP and UDP headers)",
        hint: `${HINT}; a test without family is checked as IPv4 (family: 6 for IPv6 sizes)`,
      },
    ]);
    expect(issues({ packet_size_bytes: 72 })).toEqual([]);
    expect(issues({ packet_size_bytes: 9244 })).toEqual([]);
    // ICMP is not STAMP: 9300 is a valid ping size.
    expect(issues({ method: "icmp", packet_size_bytes: 9300 })).toEqual([]);
  });

  it("validate judges the peer: its stamp_key (authenticated) and an IPv6 reflector.host or family: 6", () => {
    expect(issues({ packet_size_bytes: 128 }, { stamp_key: { env: "KEY" } })).toEqual([
      {
        file: "",
        path: "tests[0].packet_size_bytes",
        message:
          'packet_size_bytes 128 is below the smallest authenticated STAMP test packet over IPv4 (140 bytes: 112 STAMP + 28 IP and UDP headers); site "gz-01" has a stamp_key',
        hint: HINT,
      },
    ]);
    expect(issues({ packet_size_bytes: 80 }, { reflector: { host: "2001:db8::20" } })).toEqual([
      {
        file: "",
        path: "tests[0].packet_size_bytes",
        message:
          "packet_size_bytes 80 is below the smallest unauthenticated STAMP test packet over IPv6 (92 bytes: 44 STAMP + 48 IP and UDP headers)",
        hint: HINT,
      },
    ]);
    expect(issues({ packet_size_bytes: 9264, family: 6 }, { reflector: { host: "2001:db8::20" } })).toEqual(
      [],
    );
    expect(issues({ packet_size_bytes: 140 }, { stamp_key: { env: "KEY" } })).toEqual([]);
  });
});
