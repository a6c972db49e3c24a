/**
 * Limits the probers enforce at run time, in one place so `validate` refuses the same configurations
 * before a regulator ships them (config/rules.ts imports these; test/unit/config/runtime-twins.test.ts
 * proves every run-time refusal has its config-time twin).
 */

import { QosProbeError } from "../errors.js";

/** IPv4 header 20 + ICMP header 8; IPv6 header 40 + ICMPv6 header 8. */
export const ICMP_OVERHEAD_BYTES = { 4: 28, 6: 48 } as const;
/** ping carries its send timestamp in the first 16 payload bytes; with less it cannot time replies. */
export const ICMP_MIN_PAYLOAD_BYTES = 16;
/** Smallest IP packet an ICMP test can use, per family: 44 (IPv4), 64 (IPv6). */
export const ICMP_MIN_PACKET_BYTES = {
  4: ICMP_MIN_PAYLOAD_BYTES + ICMP_OVERHEAD_BYTES[4],
  6: ICMP_MIN_PAYLOAD_BYTES + ICMP_OVERHEAD_BYTES[6],
} as const;
/** icmp_seq is 16 bits; past 65535 sequence numbers wrap and losses could no longer be told apart. */
export const ICMP_MAX_COUNT = 65_535;
/**
 * iputils ping refuses a shorter gap to a non-root user ("minimal interval allowed for user is 2ms",
 * MIN_USER_INTERVAL_MS since iputils 20210202; Debian bookworm ships 20221126). The agent runs as a
 * system user, so 500 packets per second is the most an ICMP test can ask.
 */
export const ICMP_MIN_USER_INTERVAL_MS = 2;
export const ICMP_MAX_RATE_PPS = 1000 / ICMP_MIN_USER_INTERVAL_MS;

/**
 * Most packets one run may send. A run keeps one sample per packet in memory (≈ 200 bytes each) until
 * it is summarised: 100 000 samples ≈ 20 MB, already a lot on a 512 MiB Raspberry Pi. Without a bound
 * rate 1000 × a 24 h scheduled run asked for 86 M samples.
 */
export const MAX_RUN_PACKETS = 100_000;

/** IPv4 header 20 + UDP 8; IPv6 header 40 + UDP 8: a STAMP test's packet_size_bytes is the IP packet. */
export const IP_UDP_OVERHEAD_BYTES = { 4: 28, 6: 48 } as const;

/**
 * STAMP base packet per mode (RFC 8762 §4.2.1: 44 octets unauthenticated, §4.2.2: 112 authenticated):
 * packet.ts's UNAUTH_BASE_BYTES / AUTH_BASE_BYTES, repeated here so that cli.ts, which imports this
 * module, does not load the packet codec (test/unit/probe/stamp-size.test.ts holds them equal).
 */
export const STAMP_BASE_BYTES = { unauthenticated: 44, authenticated: 112 } as const;

/**
 * Largest STAMP datagram (UDP payload) a qos-probe Session-Reflector takes: its receive buffer holds
 * a jumbo frame's 9216 bytes; a longer datagram arrives truncated (MSG_TRUNC) and is dropped, counted
 * as `dropped_oversize`, never answered. So no sender may ask for a longer one.
 */
export const STAMP_MAX_DATAGRAM_BYTES = 9216;

/**
 * SO_RCVBUF a Session-Reflector asks for: room for bursts from many senders at once while its loop is
 * busy (1 MiB holds ≈ 2,000 small datagrams on loopback; the kernel's default 208 KiB held 256 of a
 * 2,000-datagram burst). The kernel caps the request at net.core.rmem_max (212992 on a stock Debian or
 * Raspberry Pi OS); raise that sysctl for the full size. Kernel memory, charged only while datagrams wait.
 */
export const REFLECTOR_RECEIVE_BUFFER_BYTES = 1 << 20;

/**
 * The IP packet sizes a STAMP test can send: from the mode's base packet (RFC 8762 §4.2.1: 44 octets
 * unauthenticated, §4.2.2: 112 authenticated) to the reflector's largest datagram, plus the family's
 * IP and UDP headers. IPv4: 72 / 140 .. 9244; IPv6: 92 / 160 .. 9264 bytes.
 */
export function stampPacketBytes(
  family: 4 | 6,
  mode: keyof typeof STAMP_BASE_BYTES,
): { min: number; max: number } {
  return {
    min: STAMP_BASE_BYTES[mode] + IP_UDP_OVERHEAD_BYTES[family],
    max: STAMP_MAX_DATAGRAM_BYTES + IP_UDP_OVERHEAD_BYTES[family],
  };
}

/** The fix for a STAMP size out of range: both modes' minimum and the maximum, both families. */
export function stampSizeHint(): string {
  const v4 = { open: stampPacketBytes(4, "unauthenticated"), auth: stampPacketBytes(4, "authenticated") };
  const v6 = { open: stampPacketBytes(6, "unauthenticated"), auth: stampPacketBytes(6, "authenticated") };
  return (
    `use at least ${v4.open.min} bytes unauthenticated or ${v4.auth.min} authenticated (IPv6: ${v6.open.min} / ${v6.auth.min}), ` +
    `and at most ${v4.open.max} (IPv6: ${v6.open.max})`
  );
}

/**
 * Refuse a STAMP packet size the sender cannot honour: below the mode's base packet the packet would be
 * padded up to it (the result would state a size that was never sent); above the reflector's largest
 * datagram every packet would be dropped there. Throws PROBE_SETUP; validate's twin is rules.ts
 * checkStampSize at tests[].packet_size_bytes.
 */
export function checkStampSize(size: number, family: 4 | 6, mode: keyof typeof STAMP_BASE_BYTES): void {
  const { min, max } = stampPacketBytes(family, mode);
  if (size < min) {
    throw new QosProbeError(
      "PROBE_SETUP",
      `packet_size_bytes ${size} is below the smallest ${mode} STAMP test packet over IPv${family} (${min} bytes: ${min - IP_UDP_OVERHEAD_BYTES[family]} STAMP + ${IP_UDP_OVERHEAD_BYTES[family]} IP and UDP headers)`,
      { hint: stampSizeHint() },
    );
  }
  if (size > max) {
    throw new QosProbeError(
      "PROBE_SETUP",
      `packet_size_bytes ${size} is above the largest STAMP test packet a reflector takes over IPv${family} (${max} bytes: a ${STAMP_MAX_DATAGRAM_BYTES}-byte datagram + ${IP_UDP_OVERHEAD_BYTES[family]} IP and UDP headers)`,
      { hint: stampSizeHint() },
    );
  }
}

/** Largest ping payload per family: the IP maximum 65,535 less the IPv4+ICMP headers, the ICMPv6 header (IPv6's payload length excludes its own header). */
export const ICMP_MAX_PAYLOAD_BYTES = { 4: 65_535 - 28, 6: 65_535 - 8 } as const;

/**
 * The ICMP payload (bytes, ping's `-s`) for a whole IP packet of `size` bytes over `family`.
 * Throws PROBE_SETUP when ping cannot time a reply that small (16 payload bytes carry its timestamp) or
 * the packet exceeds the IP maximum.
 */
export function checkPingSize(size: number, family: 4 | 6): number {
  const payload = size - ICMP_OVERHEAD_BYTES[family];
  if (payload < ICMP_MIN_PAYLOAD_BYTES || payload > ICMP_MAX_PAYLOAD_BYTES[family]) {
    const min = ICMP_MIN_PAYLOAD_BYTES + ICMP_OVERHEAD_BYTES[family];
    const max = ICMP_MAX_PAYLOAD_BYTES[family] + ICMP_OVERHEAD_BYTES[family];
    throw new QosProbeError(
      "PROBE_SETUP",
      `packet_size_bytes ${size} does not fit an IPv${family} ICMP echo (${min}..${max})`,
      { hint: `ping needs ${ICMP_MIN_PAYLOAD_BYTES} payload bytes to time a reply; choose ${min}..${max}` },
    );
  }
  return payload;
}
