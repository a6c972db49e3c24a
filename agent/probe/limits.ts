/**
 * Limits the probers enforce at run time, in one place so `validate` refuses the same configurations
 * before a regulator ships them (config/rules.ts imports these; test/unit/config/runtime-twins.test.ts
 * proves every run-time refusal has its config-time twin).
 */

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
