import { createHmac, timingSafeEqual } from "node:crypto";
import { QosProbeError } from "../../errors.js";
import { type NtpTime, readNtp, writeNtp } from "./ntp.js";

/**
 * STAMP test packet codec: RFC 8762 §4.2 (Session-Sender) and §4.3 (Session-Reflector), both modes,
 * with the RFC 8972 §3 Session-Sender Identifier in the octets RFC 8762 left MBZ. Octet offsets are
 * written next to each field. Parsing is lenient for TWAMP-light peers (RFC 5357 Appendix I), which
 * send shorter packets: a field that is present is used, a field that is absent is null.
 */

export type StampMode = "unauthenticated" | "authenticated";

/** Base packet sizes, the same in both directions (RFC 8762 §4.2.1, §4.2.2, §4.3.1, §4.3.2). */
export const UNAUTH_BASE_BYTES = 44;
export const AUTH_BASE_BYTES = 112;
/** Authenticated mode: HMAC in octets 96..111, covering octets 0..95 (RFC 8762 §4.4). */
export const HMAC_OFFSET = 96;
export const HMAC_BYTES = 16;
/** A TWAMP-light sender packet: Sequence Number, Timestamp, Error Estimate (RFC 5357 §4.1.2). */
export const MIN_SENDER_BYTES = 14;
/** The shortest reply that still names the packet it answers (Session-Sender Sequence Number, 24..27). */
export const MIN_REFLECTOR_BYTES = 28;
/** RFC 8972 §4.2 Extra Padding TLV type; its 4-octet header is Flags, Type, Length (§4). */
export const TLV_EXTRA_PADDING = 1;
/**
 * RFC 8972 §4.7 Follow-Up Telemetry TLV: the reflector reports, in a later reply of the same session,
 * the Sequence Number of its previous reply and a timestamp closer to that reply's real transmission
 * than the T3 it carried. Value (16 octets): Sequence Number (4), Follow-up Timestamp (8, NTP format
 * as the Z bit says), Timestamp M(ode) (1: 1 HW assist, 2 SW local, 3 control plane), Reserved (3).
 */
export const TLV_FOLLOW_UP_TELEMETRY = 7;
export const FOLLOW_UP_VALUE_BYTES = 16;
/** Timestamp M(ode) "SW local" (RFC 8972 §4.3 methods): the kernel's software TX stamp. */
export const FOLLOW_UP_MODE_SW_LOCAL = 2;
/**
 * RFC 8972 §4.8 HMAC TLV: integrity of the TLVs, which the base packet's HMAC (octets 0..95, RFC 8762
 * §4.4) does not reach. Value: HMAC-SHA-256 truncated to 128 bits over the packet's Sequence Number
 * (octets 0..3) and every TLV before the HMAC TLV, headers included; it follows every TLV but Extra
 * Padding. Keyed with the session's authentication key (RFC 8762 §4.4), the reading of asmie/stamp-suite
 * (src/tlv/list/mod.rs, build_hmac_input). In authenticated mode a packet whose Follow-Up Telemetry
 * TLV (the one TLV we act on) comes without a valid HMAC TLV fails; the reflector then sets the I flag
 * on every TLV and processes none of them (no follow-up), and the sender trusts none of them.
 */
export const TLV_HMAC = 8;
export const HMAC_TLV_VALUE_BYTES = 16;
/** STAMP TLV Flags (RFC 8972 §4): U(nrecognized), M(alformed), I(ntegrity failed). */
export const TLV_FLAG_U = 0x80;
export const TLV_FLAG_M = 0x40;
export const TLV_FLAG_I = 0x20;
const TLV_HEADER_BYTES = 4;
const FOLLOW_UP_TLV_BYTES = TLV_HEADER_BYTES + FOLLOW_UP_VALUE_BYTES;
const HMAC_TLV_BYTES = TLV_HEADER_BYTES + HMAC_TLV_VALUE_BYTES;

export function baseBytes(mode: StampMode): number {
  return mode === "authenticated" ? AUTH_BASE_BYTES : UNAUTH_BASE_BYTES;
}

export interface SenderPacket {
  seq: number;
  timestamp: NtpTime;
  /** Raw 16-bit Error Estimate (see error-estimate.ts). */
  errorEstimate: number;
  /** RFC 8972 SSID; 0 = not used. */
  ssid: number;
}

export interface ParsedSenderPacket extends Omit<SenderPacket, "ssid"> {
  /** Null when a short TWAMP-light packet ends before octet 16. */
  ssid: number | null;
  mode: StampMode;
  length: number;
}

export interface ReflectorPacket {
  /** Reflector's own sequence number (= sender's in stateless mode). */
  seq: number;
  /** T3, transmit time. */
  timestamp: NtpTime;
  errorEstimate: number;
  ssid: number;
  /** T2, receive time. */
  receiveTimestamp: NtpTime;
  senderSeq: number;
  /** T1 as the sender wrote it, echoed. */
  senderTimestamp: NtpTime;
  senderErrorEstimate: number;
  /** TTL / Hop Limit of the received packet; 0 = not known. */
  senderTtl: number;
}

export interface ParsedReflectorPacket
  extends Omit<ReflectorPacket, "senderTimestamp" | "senderErrorEstimate" | "senderTtl"> {
  senderTimestamp: NtpTime | null;
  senderErrorEstimate: number | null;
  senderTtl: number | null;
  mode: StampMode;
  length: number;
  /**
   * A filled-in Follow-Up Telemetry TLV (flags clear, timestamp nonzero); null = none. Authenticated:
   * only when the reply's HMAC TLV verified (RFC 8972 §4.8).
   */
  followUp: FollowUp | null;
  /**
   * Authenticated mode: the reply's TLVs failed their integrity check (HMAC TLV wrong or missing
   * where TLVs other than Extra Padding are present, or the reflector set the I flag on them because
   * our request's failed): none of its TLVs is used. Always false in unauthenticated mode.
   */
  tlvHmacFailed: boolean;
}

/** HMAC-SHA-256 over octets 0..95, truncated to 128 bits (RFC 8762 §4.4). */
export function computeHmac(key: Buffer, packet: Buffer): Buffer {
  return createHmac("sha256", key).update(packet.subarray(0, HMAC_OFFSET)).digest().subarray(0, HMAC_BYTES);
}

export function verifyHmac(key: Buffer, packet: Buffer): boolean {
  if (packet.length < AUTH_BASE_BYTES) return false;
  return timingSafeEqual(computeHmac(key, packet), packet.subarray(HMAC_OFFSET, HMAC_OFFSET + HMAC_BYTES));
}

/**
 * Fill `buf[from..]` as padding. Four or more octets become one RFC 8972 Extra Padding TLV, so an
 * RFC 8972 reflector reads well-formed TLVs instead of garbage; fewer than four cannot hold a TLV
 * header and stay zero.
 */
export function writePadding(buf: Buffer, from: number): void {
  buf.fill(0, from);
  const room = buf.length - from;
  if (room < TLV_HEADER_BYTES) return;
  buf.writeUInt8(0, from); // STAMP TLV Flags
  buf.writeUInt8(TLV_EXTRA_PADDING, from + 1);
  buf.writeUInt16BE(room - TLV_HEADER_BYTES, from + 2);
}

/**
 * Whether a packet with `room` octets past the base can carry a Follow-Up Telemetry TLV (20 octets;
 * authenticated mode also its HMAC TLV, 20 more) and still end on a whole TLV: exactly that, or 4
 * octets more and beyond (the rest an Extra Padding TLV). Unauthenticated: UDP payload 64 or ≥ 68
 * octets (IPv4 packet 92 / ≥ 96 B); authenticated: 152 or ≥ 156 octets (IPv4 180 / ≥ 184 B).
 */
export function followUpFits(room: number, mode: StampMode = "unauthenticated"): boolean {
  const need = FOLLOW_UP_TLV_BYTES + (mode === "authenticated" ? HMAC_TLV_BYTES : 0);
  return room === need || room >= need + TLV_HEADER_BYTES;
}

/** HMAC TLV value (RFC 8972 §4.8): over octets 0..3 and the TLVs in `buf[base..hmacTlvOff]`. */
export function computeTlvHmac(key: Buffer, buf: Buffer, base: number, hmacTlvOff: number): Buffer {
  return createHmac("sha256", key)
    .update(buf.subarray(0, 4))
    .update(buf.subarray(base, hmacTlvOff))
    .digest()
    .subarray(0, HMAC_TLV_VALUE_BYTES);
}

/** Where the TLV list starting at `from` holds its first TLV of `type` (any length), or −1. */
function findTlvAnyLength(buf: Buffer, from: number, type: number): number {
  let off = from;
  while (off + TLV_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt16BE(off + 2);
    if (off + TLV_HEADER_BYTES + len > buf.length) return -1;
    if (buf[off + 1] === type) return off;
    off += TLV_HEADER_BYTES + len;
  }
  return -1;
}

/**
 * The integrity of the TLVs after `base` (RFC 8972 §4.8), for authenticated mode: "ok" = an HMAC TLV
 * of 16 octets whose value matches; "none" = no HMAC TLV and no TLV we would act on (padding, or the
 * zero octets an RFC 8762 reflector may send back: nothing to protect); "failed" = a wrong HMAC, an
 * HMAC TLV of another length, or a Follow-Up Telemetry TLV without one.
 */
export function checkTlvHmac(key: Buffer, buf: Buffer, base: number): "ok" | "none" | "failed" {
  const off = findTlvAnyLength(buf, base, TLV_HMAC);
  if (off < 0) return findTlvAnyLength(buf, base, TLV_FOLLOW_UP_TELEMETRY) >= 0 ? "failed" : "none";
  if (buf.readUInt16BE(off + 2) !== HMAC_TLV_VALUE_BYTES) return "failed";
  const v = off + TLV_HEADER_BYTES;
  return timingSafeEqual(computeTlvHmac(key, buf, base, off), buf.subarray(v, v + HMAC_TLV_VALUE_BYTES))
    ? "ok"
    : "failed";
}

/** Re-sign the HMAC TLV after the TLVs before it changed (reflector: its own Sequence Number, follow-up). */
export function signTlvs(key: Buffer, buf: Buffer, base: number): boolean {
  const off = findTlv(buf, base, TLV_HMAC, HMAC_TLV_VALUE_BYTES);
  if (off < 0) return false;
  buf[off] = 0; // flags: understood, well formed
  computeTlvHmac(key, buf, base, off).copy(buf, off + TLV_HEADER_BYTES);
  return true;
}

/** Set the I flag on every whole TLV after `base` (RFC 8972 §4.8: their integrity check failed). */
export function markTlvsIntegrityFailed(buf: Buffer, base: number): void {
  let off = base;
  while (off + TLV_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt16BE(off + 2);
    if (off + TLV_HEADER_BYTES + len > buf.length) return;
    buf[off] = (buf[off] ?? 0) | TLV_FLAG_I;
    off += TLV_HEADER_BYTES + len;
  }
}

/**
 * Offset of the first well-formed TLV of `type` with a value of `valueBytes` octets in `buf[from..]`,
 * or −1. Walks the TLV list (RFC 8972 §4) and stops at the first header that overruns the packet.
 */
export function findTlv(buf: Buffer, from: number, type: number, valueBytes: number): number {
  let off = from;
  while (off + TLV_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt16BE(off + 2);
    if (off + TLV_HEADER_BYTES + len > buf.length) return -1;
    if (buf[off + 1] === type && len === valueBytes) return off;
    off += TLV_HEADER_BYTES + len;
  }
  return -1;
}

/** A reply's Follow-Up Telemetry: its reflector's previous reply really left at `timestamp`. */
export interface FollowUp {
  /** The reflector's Sequence Number of that previous reply. */
  seq: number;
  timestamp: NtpTime;
  /** Timestamp M(ode): 1 HW assist, 2 SW local, 3 control plane. */
  mode: number;
}

export interface EncodeOptions {
  /** UDP payload length; at least the base packet of the mode. */
  length: number;
  /** Present = authenticated mode. */
  authKey?: Buffer;
  /**
   * Ask for Follow-Up Telemetry (RFC 8972 §4.7): an empty TLV right after the base packet, in
   * authenticated mode followed by its HMAC TLV (§4.8), padding after them. Only where the packet
   * has room (`followUpFits`); otherwise ignored.
   */
  followUp?: boolean;
}

export function encodeSenderPacket(p: SenderPacket, opts: EncodeOptions): Buffer {
  const mode: StampMode = opts.authKey ? "authenticated" : "unauthenticated";
  const base = baseBytes(mode);
  const buf = Buffer.alloc(Math.max(base, opts.length));
  buf.writeUInt32BE(p.seq >>> 0, 0); // 0..3 Sequence Number (both modes)
  if (mode === "unauthenticated") {
    writeNtp(buf, 4, p.timestamp); // 4..11 Timestamp
    buf.writeUInt16BE(p.errorEstimate, 12); // 12..13 Error Estimate
    buf.writeUInt16BE(p.ssid, 14); // 14..15 SSID; 16..43 MBZ
  } else {
    // 4..15 MBZ
    writeNtp(buf, 16, p.timestamp); // 16..23 Timestamp
    buf.writeUInt16BE(p.errorEstimate, 24); // 24..25 Error Estimate
    buf.writeUInt16BE(p.ssid, 26); // 26..27 SSID; 28..95 MBZ
  }
  if (opts.followUp && followUpFits(buf.length - base, mode)) {
    buf.fill(0, base, base + FOLLOW_UP_TLV_BYTES); // Flags 0; the reflector fills the value
    buf.writeUInt8(TLV_FOLLOW_UP_TELEMETRY, base + 1);
    buf.writeUInt16BE(FOLLOW_UP_VALUE_BYTES, base + 2);
    let end = base + FOLLOW_UP_TLV_BYTES;
    if (opts.authKey) {
      // HMAC TLV (§4.8) after the TLVs it protects; T1 (octets 16..23) is outside what it covers,
      // so it is final here, before the clock is read.
      buf.writeUInt8(TLV_HMAC, end + 1);
      buf.writeUInt16BE(HMAC_TLV_VALUE_BYTES, end + 2);
      computeTlvHmac(opts.authKey, buf, base, end).copy(buf, end + TLV_HEADER_BYTES);
      end += HMAC_TLV_BYTES;
    }
    writePadding(buf, end);
  } else writePadding(buf, base);
  if (opts.authKey) computeHmac(opts.authKey, buf).copy(buf, HMAC_OFFSET); // 96..111 HMAC
  return buf;
}

/** Parse a Session-Sender packet. Throws PACKET_MALFORMED (too short) or PACKET_AUTH (HMAC). */
export function parseSenderPacket(buf: Buffer, authKey?: Buffer): ParsedSenderPacket {
  if (buf.length < MIN_SENDER_BYTES) {
    throw new QosProbeError(
      "PACKET_MALFORMED",
      `test packet of ${buf.length} bytes, need ${MIN_SENDER_BYTES}`,
    );
  }
  if (!authKey) {
    return {
      seq: buf.readUInt32BE(0),
      timestamp: readNtp(buf, 4),
      errorEstimate: buf.readUInt16BE(12),
      ssid: buf.length >= 16 ? buf.readUInt16BE(14) : null,
      mode: "unauthenticated",
      length: buf.length,
    };
  }
  if (!verifyHmac(authKey, buf)) {
    throw new QosProbeError(
      "PACKET_AUTH",
      `authenticated test packet (${buf.length} bytes) failed HMAC check`,
    );
  }
  return {
    seq: buf.readUInt32BE(0),
    timestamp: readNtp(buf, 16),
    errorEstimate: buf.readUInt16BE(24),
    ssid: buf.readUInt16BE(26),
    mode: "authenticated",
    length: buf.length,
  };
}

/** Write the reflector base packet into a scratch buffer of the full base size. */
function writeReflectorBase(p: ReflectorPacket, mode: StampMode): Buffer {
  const buf = Buffer.alloc(baseBytes(mode));
  buf.writeUInt32BE(p.seq >>> 0, 0); // 0..3 Sequence Number
  if (mode === "unauthenticated") {
    writeNtp(buf, 4, p.timestamp); // 4..11 Timestamp (T3)
    buf.writeUInt16BE(p.errorEstimate, 12); // 12..13 Error Estimate
    buf.writeUInt16BE(p.ssid, 14); // 14..15 SSID
    writeNtp(buf, 16, p.receiveTimestamp); // 16..23 Receive Timestamp (T2)
    buf.writeUInt32BE(p.senderSeq >>> 0, 24); // 24..27 Session-Sender Sequence Number
    writeNtp(buf, 28, p.senderTimestamp); // 28..35 Session-Sender Timestamp
    buf.writeUInt16BE(p.senderErrorEstimate, 36); // 36..37 Session-Sender Error Estimate; 38..39 MBZ
    buf.writeUInt8(p.senderTtl, 40); // 40 Ses-Sender TTL; 41..43 MBZ
  } else {
    // 4..15 MBZ
    writeNtp(buf, 16, p.timestamp); // 16..23 Timestamp (T3)
    buf.writeUInt16BE(p.errorEstimate, 24); // 24..25 Error Estimate
    buf.writeUInt16BE(p.ssid, 26); // 26..27 SSID; 28..31 MBZ
    writeNtp(buf, 32, p.receiveTimestamp); // 32..39 Receive Timestamp (T2); 40..47 MBZ
    buf.writeUInt32BE(p.senderSeq >>> 0, 48); // 48..51 Session-Sender Sequence Number; 52..63 MBZ
    writeNtp(buf, 64, p.senderTimestamp); // 64..71 Session-Sender Timestamp
    buf.writeUInt16BE(p.senderErrorEstimate, 72); // 72..73 Session-Sender Error Estimate; 74..79 MBZ
    buf.writeUInt8(p.senderTtl, 80); // 80 Ses-Sender TTL; 81..95 MBZ; 96..111 HMAC
  }
  return buf;
}

export interface ReplyOptions {
  /** Reply length: the request's length (symmetric size, RFC 8762 §4.3). */
  length: number;
  authKey?: Buffer;
  /** The request, whose octets past the base packet (padding, TLVs) are copied back. */
  request?: Buffer;
}

/**
 * A Session-Reflector packet of exactly `length` octets. A reply shorter than the base packet (to a
 * short TWAMP-light request) is the base layout cut at `length`; it must still hold octets 0..27.
 */
export function encodeReflectorPacket(p: ReflectorPacket, opts: ReplyOptions): Buffer {
  const mode: StampMode = opts.authKey ? "authenticated" : "unauthenticated";
  const base = baseBytes(mode);
  const min = mode === "authenticated" ? AUTH_BASE_BYTES : MIN_REFLECTOR_BYTES;
  if (opts.length < min) {
    throw new QosProbeError("PACKET_MALFORMED", `a ${mode} reply needs ${min} bytes, not ${opts.length}`);
  }
  const buf = Buffer.alloc(opts.length);
  writeReflectorBase(p, mode).copy(buf, 0, 0, Math.min(base, opts.length));
  if (opts.request && opts.request.length > base) opts.request.copy(buf, base, base, opts.length);
  if (opts.authKey) computeHmac(opts.authKey, buf).copy(buf, HMAC_OFFSET);
  return buf;
}

/**
 * Write the transmit timestamp T3 into a finished reply and re-sign it: the last thing before send,
 * so the reflector's residence time includes its own encoding work.
 */
export function stampTransmitTime(reply: Buffer, t3: NtpTime, authKey?: Buffer): void {
  if (authKey) {
    writeNtp(reply, 16, t3);
    computeHmac(authKey, reply).copy(reply, HMAC_OFFSET);
  } else {
    writeNtp(reply, 4, t3);
  }
}

/** Parse a Session-Reflector packet. Throws PACKET_MALFORMED (too short) or PACKET_AUTH (HMAC). */
export function parseReflectorPacket(buf: Buffer, authKey?: Buffer): ParsedReflectorPacket {
  if (buf.length < MIN_REFLECTOR_BYTES) {
    throw new QosProbeError("PACKET_MALFORMED", `reply of ${buf.length} bytes, need ${MIN_REFLECTOR_BYTES}`);
  }
  if (!authKey) {
    return {
      seq: buf.readUInt32BE(0),
      timestamp: readNtp(buf, 4),
      errorEstimate: buf.readUInt16BE(12),
      ssid: buf.readUInt16BE(14),
      receiveTimestamp: readNtp(buf, 16),
      senderSeq: buf.readUInt32BE(24),
      senderTimestamp: buf.length >= 36 ? readNtp(buf, 28) : null,
      senderErrorEstimate: buf.length >= 38 ? buf.readUInt16BE(36) : null,
      senderTtl: buf.length >= 41 ? buf.readUInt8(40) : null,
      mode: "unauthenticated",
      length: buf.length,
      followUp: readFollowUp(buf, UNAUTH_BASE_BYTES),
      tlvHmacFailed: false,
    };
  }
  if (!verifyHmac(authKey, buf)) {
    throw new QosProbeError("PACKET_AUTH", `authenticated reply (${buf.length} bytes) failed HMAC check`);
  }
  return {
    seq: buf.readUInt32BE(0),
    timestamp: readNtp(buf, 16),
    errorEstimate: buf.readUInt16BE(24),
    ssid: buf.readUInt16BE(26),
    receiveTimestamp: readNtp(buf, 32),
    senderSeq: buf.readUInt32BE(48),
    senderTimestamp: readNtp(buf, 64),
    senderErrorEstimate: buf.readUInt16BE(72),
    senderTtl: buf.readUInt8(80),
    mode: "authenticated",
    length: buf.length,
    ...authenticatedTlvs(buf, authKey),
  };
}

/** An authenticated reply's follow-up, trusted only under a verified HMAC TLV (RFC 8972 §4.8). */
function authenticatedTlvs(buf: Buffer, key: Buffer): { followUp: FollowUp | null; tlvHmacFailed: boolean } {
  if (buf.length <= AUTH_BASE_BYTES) return { followUp: null, tlvHmacFailed: false };
  const integrity = checkTlvHmac(key, buf, AUTH_BASE_BYTES);
  if (integrity === "failed") return { followUp: null, tlvHmacFailed: true };
  // The reflector found our request's TLVs tampered with and said so (I flag): nothing in them is its own.
  const hmacTlv = findTlv(buf, AUTH_BASE_BYTES, TLV_HMAC, HMAC_TLV_VALUE_BYTES);
  if (hmacTlv >= 0 && ((buf[hmacTlv] ?? 0) & TLV_FLAG_I) !== 0)
    return { followUp: null, tlvHmacFailed: true };
  return { followUp: readFollowUp(buf, AUTH_BASE_BYTES), tlvHmacFailed: false };
}

/**
 * The Follow-Up Telemetry in a reply's TLVs, if the reflector filled it in: flags clear (U, M, I
 * unset: the reflector knew the TLV and found it well formed) and a nonzero timestamp (a reflector
 * with nothing to report yet — the session's first reply — leaves the value zero).
 */
function readFollowUp(buf: Buffer, base: number): FollowUp | null {
  const off = findTlv(buf, base, TLV_FOLLOW_UP_TELEMETRY, FOLLOW_UP_VALUE_BYTES);
  if (off < 0 || buf[off] !== 0) return null;
  const v = off + TLV_HEADER_BYTES;
  const timestamp = readNtp(buf, v + 4);
  if (timestamp.seconds === 0 && timestamp.fraction === 0) return null;
  return { seq: buf.readUInt32BE(v), timestamp, mode: buf[v + 12] ?? 0 };
}
