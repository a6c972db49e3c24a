import { QosProbeError } from "../../errors.js";
import type { RecvCtx } from "../../net/recv.js";
import { C, decodeSockaddr, ERRNO, type Sys, setIntOpt } from "../../net/sys.js";
import { STAMP_MAX_DATAGRAM_BYTES } from "../limits.js";
import { buildAllowList, isAllowed } from "./allowlist.js";
import { NTP_UNIX_OFFSET_S, type NtpTime } from "./ntp.js";
import {
  AUTH_BASE_BYTES,
  baseBytes,
  checkTlvHmac,
  computeHmac,
  encodeReflectorPacket,
  FOLLOW_UP_MODE_SW_LOCAL,
  FOLLOW_UP_VALUE_BYTES,
  findTlv,
  HMAC_OFFSET,
  MIN_SENDER_BYTES,
  markTlvsIntegrityFailed,
  type ParsedSenderPacket,
  parseSenderPacket,
  signTlvs,
  TLV_FOLLOW_UP_TELEMETRY,
} from "./packet.js";
import { SourceRateLimiter } from "./rate-limit.js";
import { type ReflectorWorkerData, SLOT } from "./reflector-shared.js";

/**
 * The STAMP Session-Reflector's packet loop (RFC 8762 §4.3), on the kernel-timestamped socket, run in a
 * worker thread of its own or on the main thread (reflector-kernel.ts): recvmsg; T2 = the kernel's RX stamp; the reply is built (codec, HMAC
 * aside) before T3, copied into a native buffer, and T3 = clock_gettime(CLOCK_REALTIME) is written into
 * it immediately before sendto(), with nothing allocated in between, so no allocation can start a GC
 * between T3 and the wire (on the main thread V8 may still finish a concurrent GC at a function call
 * there: the TX stamp below measures what that costs). Authenticated replies must be re-signed over T3 (node:crypto allocates): that is the
 * one exception, and it is measured in the residence time.
 * Ses-Sender TTL = the TTL / hop limit the request arrived with (RFC 8762 §4.3.1, IP_RECVTTL /
 * IPV6_RECVHOPLIMIT). Kernel receive-queue drops (SO_RXQ_OVFL) are counted.
 *
 * Nothing in user space can stop the thread from being descheduled between T3 and the kernel
 * sending the reply (measured on a loaded 2-core host: 2–33 ms, an involuntary context switch
 * inside that window, ~1 reply in 500). So the socket also takes the kernel's TX stamp of every
 * reply: the gap T3 → TX stamp is counted (reply_tx_gap_max_us, reply_tx_late_over_1ms), and a
 * sender that asks with a Follow-Up Telemetry TLV (RFC 8972 §4.7; authenticated mode: under an HMAC
 * TLV, §4.8, which the reply carries re-signed, and not at all when the request's fails) gets, in
 * the session's next reply, the previous reply's Sequence Number and its real transmit time, with
 * which it corrects that reply's T3. RFC 8972 describes the TLV for a stateful reflector; in our
 * stateless mode the reply's Sequence Number is the sender's, so the field is just as unambiguous.
 * A session is the sender's address, port and SSID.
 * Stop: the engine sets the stop flag and shutdown(SHUT_RD)s the fd; drain() then reads end-of-file.
 */

const MAX_STATEFUL_SESSIONS = 65_536;
const TWO_32 = 2 ** 32;
/**
 * Room for a jumbo-frame request; a longer datagram arrives truncated (MSG_TRUNC) and is dropped, counted
 * as dropped_oversize. Senders refuse to ask for more (limits.checkStampSize).
 */
const DATA_BYTES = STAMP_MAX_DATAGRAM_BYTES;
/** Replies whose TX stamp is awaited, by the socket's OPT_ID key (a power of two). */
const TX_RING = 1024;

/** Follow-Up Telemetry state of one session: its last reply and, once stamped, when it left. */
interface FollowUpState {
  /** OPT_ID key of the last reply; −1 before the first. */
  key: number;
  /** That reply's (reflector) Sequence Number. */
  seq: number;
  /** Its kernel TX stamp; sec −1 until the stamp is read. */
  txSec: number;
  txNsec: number;
}

/**
 * One reflector's packet handling, on the kernel-timestamped socket `data.fd`: `drain()` answers every
 * datagram waiting (non-blocking recvmsg until EAGAIN) and empties the error queue (TX stamps);
 * false once the socket was shut down for reading (stop). Run by the worker thread after each poll(2)
 * (reflector-worker.ts) or by the main thread on each libuv readiness event (reflector-kernel.ts).
 */
export interface ReflectorLoop {
  drain(): boolean;
}

export function createReflectorLoop(
  sys: Sys,
  ctx: RecvCtx,
  errCtx: RecvCtx,
  shared: Int32Array,
  data: ReflectorWorkerData,
): ReflectorLoop {
  const { fd } = data;
  const key = data.authKey ? Buffer.from(data.authKey) : undefined;
  const allowList = data.allow.length ? buildAllowList(data.allow) : undefined;
  const limiter =
    data.rateLimitPps > 0 ? new SourceRateLimiter(data.rateLimitPps, data.rateLimitBurst) : undefined;
  const sessions = new Map<string, number>();
  const needPeer = allowList !== undefined || limiter !== undefined || data.stateful;
  const info = ctx.info;
  const rx = ctx.data;
  const tx = ctx.tx;
  let t3Offset = 4;
  let replyTos = 0;
  const v6 = data.family === 6;
  // Sent replies awaiting their TX stamp, by OPT_ID key (the kernel numbers the datagrams sent on the
  // socket from 0; a failed send takes its number back): T3 and the session to confirm.
  const ringKey = new Float64Array(TX_RING).fill(-1);
  const ringSec = new Float64Array(TX_RING);
  const ringNsec = new Float64Array(TX_RING);
  const ringFollow: (FollowUpState | undefined)[] = new Array(TX_RING).fill(undefined);
  const follow = new Map<string, FollowUpState>();
  let txKey = 0;

  const count = (slot: number) => Atomics.add(shared, slot, 1);
  /** Mark the reply's TLVs integrity-failed and count it; false (for `tlvOk`). */
  const failTlvs = (reply: Buffer, base: number): false => {
    markTlvsIntegrityFailed(reply, base);
    count(SLOT.tlv_hmac_failed);
    return false;
  };

  const onTxStamp = (key: number, sec: number, nsec: number) => {
    const i = key & (TX_RING - 1);
    if (ringKey[i] !== key) return;
    ringKey[i] = -1;
    const gapUs = (sec - (ringSec[i] ?? 0)) * 1e6 + (nsec - (ringNsec[i] ?? 0)) / 1e3;
    if (gapUs >= 0) {
      if (gapUs > 1000) count(SLOT.reply_tx_late_over_1ms);
      if (gapUs > Atomics.load(shared, SLOT.reply_tx_gap_max_us)) {
        Atomics.store(shared, SLOT.reply_tx_gap_max_us, Math.min(2 ** 31 - 1, Math.round(gapUs)));
      }
    }
    const f = ringFollow[i];
    ringFollow[i] = undefined;
    if (f && f.key === key) {
      f.txSec = sec;
      f.txNsec = nsec;
    }
  };
  // TX stamps of our replies, and ICMP errors about replies to senders that have gone (port
  // unreachable): both wait on the error queue and keep poll() reporting POLLERR, so empty it.
  const drainErrors = () => {
    const e = errCtx.info;
    for (;;) {
      const n = errCtx.recv(fd, C.MSG_ERRQUEUE | C.MSG_DONTWAIT);
      if (n === -ERRNO.EINTR) continue;
      if (n < 0) return;
      if (e.eeErrno === ERRNO.ENOMSG && e.eeOrigin === C.SO_EE_ORIGIN_TIMESTAMPING && e.tsSec >= 0) {
        onTxStamp(e.eeData, e.tsSec, e.tsNsec);
      }
    }
  };

  const drain = (): boolean => {
    drainErrors();
    for (;;) {
      const n = ctx.recv(fd, C.MSG_DONTWAIT);
      if (n === -ERRNO.EAGAIN) return true;
      if (n < 0) continue; // EINTR, or a socket error reported once
      if (n === 0) {
        if (Atomics.load(shared, SLOT.stop) !== 0) return false; // shutdown(SHUT_RD)
        count(SLOT.received);
        count(SLOT.dropped_malformed);
        continue;
      }
      count(SLOT.received);
      // The socket's running drop count (sk_drops, from 0 when it was opened) rides on each datagram.
      if (info.dropCounter >= 0) Atomics.store(shared, SLOT.dropped_kernel, info.dropCounter | 0);
      if ((info.flags & C.MSG_TRUNC) !== 0) {
        count(SLOT.dropped_oversize);
        continue;
      }
      if (n < MIN_SENDER_BYTES) {
        count(SLOT.dropped_malformed);
        continue;
      }
      // T2: the kernel's receive stamp (the clock now only if a stamp is missing).
      let t2Sec = info.tsSec;
      let t2Nsec = info.tsNsec;
      if (t2Sec < 0) {
        ctx.clockRealtime();
        t2Sec = ctx.clockSec;
        t2Nsec = ctx.clockNsec;
      }
      let peer = "";
      let peerPort = 0;
      if (needPeer) {
        const from = decodeSockaddr(sys, ctx.mem, ctx.nameOff);
        peer = from?.address ?? "";
        peerPort = from?.port ?? 0;
      }
      if (allowList && !isAllowed(allowList, peer)) {
        count(SLOT.dropped_not_allowed);
        continue;
      }
      if (limiter && !limiter.allow(peer, performance.now())) {
        count(SLOT.dropped_rate_limited);
        continue;
      }
      const request = rx.subarray(0, n);
      const parsed = parse(request, data.authMode, key, shared);
      if (!parsed) continue;
      const authKey = parsed.mode === "authenticated" ? key : undefined;
      const t2 = ntp(t2Sec, t2Nsec);
      let reply: Buffer;
      try {
        reply = encodeReflectorPacket(
          {
            seq: data.stateful
              ? reflectorSeq(sessions, `${peer}|${peerPort}|${parsed.ssid ?? 0}`)
              : parsed.seq,
            timestamp: t2, // T3 is written over it below
            errorEstimate: Atomics.load(shared, SLOT.errorEstimate) & 0xffff,
            ssid: parsed.ssid ?? 0,
            receiveTimestamp: t2,
            senderSeq: parsed.seq,
            senderTimestamp: parsed.timestamp,
            senderErrorEstimate: parsed.errorEstimate,
            senderTtl: info.ttl >= 0 ? info.ttl & 0xff : 0,
          },
          { length: Math.max(n, baseBytes(parsed.mode)), request, ...(authKey ? { authKey } : {}) },
        );
      } catch {
        count(SLOT.dropped_malformed);
        continue;
      }
      if (reply.length > DATA_BYTES) {
        count(SLOT.dropped_malformed);
        continue;
      }
      // Follow-Up Telemetry asked for? The reply carries the request's TLVs at the same offsets.
      // Authenticated: only under a valid HMAC TLV (RFC 8972 §4.8); TLVs that fail it get the I flag
      // on every one, are processed not at all, and the check is counted.
      const base = baseBytes(parsed.mode);
      const tlvOk =
        !authKey || n <= base || checkTlvHmac(authKey, request, base) !== "failed" || failTlvs(reply, base);
      const fut =
        tlvOk && n > base ? findTlv(request, base, TLV_FOLLOW_UP_TELEMETRY, FOLLOW_UP_VALUE_BYTES) : -1;
      let session: FollowUpState | undefined;
      if (fut >= 0 && fut + 4 + FOLLOW_UP_VALUE_BYTES <= reply.length) {
        drainErrors(); // the previous reply's TX stamp, if it came since this wake-up
        if (!needPeer) {
          const from = decodeSockaddr(sys, ctx.mem, ctx.nameOff);
          peer = from?.address ?? "";
          peerPort = from?.port ?? 0;
        }
        session = followUpState(follow, `${peer}|${peerPort}|${parsed.ssid ?? 0}`);
        const v = fut + 4;
        reply.fill(0, fut, fut + 1); // STAMP TLV Flags: understood, well formed
        if (session.key >= 0 && session.txSec >= 0) {
          reply.writeUInt32BE(session.seq >>> 0, v);
          reply.writeUInt32BE((session.txSec + NTP_UNIX_OFFSET_S) % TWO_32, v + 4);
          reply.writeUInt32BE(Math.floor(session.txNsec * 4.294967296), v + 8);
          reply.writeUInt8(FOLLOW_UP_MODE_SW_LOCAL, v + 12);
        } else reply.fill(0, v, v + FOLLOW_UP_VALUE_BYTES); // nothing confirmed yet
      }
      // Our Sequence Number and the follow-up are ours now: sign them (T3 is outside what it covers).
      if (authKey && tlvOk && n > base) signTlvs(authKey, reply, base);
      // Reply in the class the request came in (DSCP, ECN bits cleared): a marked test measures its
      // class both ways. One setsockopt only when the class changes from the last reply's.
      const dscpByte = info.tclass >= 0 ? info.tclass & 0xfc : 0;
      if (dscpByte !== replyTos) {
        replyTos = dscpByte;
        setIntOpt(sys, fd, C.IPPROTO_IP, C.IP_TOS, dscpByte);
        if (v6) setIntOpt(sys, fd, C.IPPROTO_IPV6, C.IPV6_TCLASS, dscpByte);
      }
      reply.copy(tx, 0);
      t3Offset = authKey ? 16 : 4;
      const len = reply.length;
      // ---- T3: from here to sendto() nothing is allocated (authenticated: the HMAC, see above) ----
      ctx.clockRealtime();
      const t3Sec = ctx.clockSec;
      const t3Nsec = ctx.clockNsec;
      tx.writeUInt32BE((t3Sec + NTP_UNIX_OFFSET_S) % TWO_32, t3Offset);
      tx.writeUInt32BE(Math.floor(t3Nsec * 4.294967296), t3Offset + 4);
      if (authKey) computeHmac(authKey, tx.subarray(0, len)).copy(tx, HMAC_OFFSET);
      const sent = Number(sys.sendto(fd, ctx.txPtr, len, 0, ctx.namePtr, ctx.nameLen));
      // ---- reply gone ----
      count(sent === len ? SLOT.reflected : SLOT.send_failed);
      if (sent >= 0) {
        const i = txKey & (TX_RING - 1);
        ringKey[i] = txKey;
        ringSec[i] = t3Sec;
        ringNsec[i] = t3Nsec;
        ringFollow[i] = session;
        if (session) {
          session.key = txKey;
          session.seq = tx.readUInt32BE(0);
          session.txSec = -1;
        }
        txKey = (txKey + 1) >>> 0;
      }
      const residenceUs = (t3Sec - t2Sec) * 1e6 + (t3Nsec - t2Nsec) / 1e3;
      if (residenceUs > 1000) count(SLOT.residence_over_1ms);
      if (residenceUs > Atomics.load(shared, SLOT.residence_max_us)) {
        Atomics.store(shared, SLOT.residence_max_us, Math.min(2 ** 31 - 1, Math.round(residenceUs)));
      }
    }
  };
  return { drain };
}

function ntp(sec: number, nsec: number): NtpTime {
  return { seconds: (sec + NTP_UNIX_OFFSET_S) % TWO_32, fraction: Math.floor(nsec * 4.294967296) };
}

/** Parse by auth mode, as the dgram reflector does; counts and returns undefined for packets not answered. */
function parse(
  msg: Buffer,
  mode: ReflectorWorkerData["authMode"],
  key: Buffer | undefined,
  shared: Int32Array,
): ParsedSenderPacket | undefined {
  const reject = (err: unknown) => {
    const slot =
      err instanceof QosProbeError && err.code === "PACKET_AUTH" ? SLOT.dropped_auth : SLOT.dropped_malformed;
    Atomics.add(shared, slot, 1);
    return undefined;
  };
  if (mode !== "open" && key && msg.length >= AUTH_BASE_BYTES) {
    try {
      return parseSenderPacket(msg, key);
    } catch (err) {
      if (mode === "authenticated") return reject(err);
    }
  }
  if (mode === "authenticated") {
    Atomics.add(shared, SLOT.dropped_auth, 1);
    return undefined;
  }
  try {
    return parseSenderPacket(msg);
  } catch (err) {
    return reject(err);
  }
}

/** The session's Follow-Up Telemetry state, created on first use; least recently used dropped past the cap. */
function followUpState(follow: Map<string, FollowUpState>, key: string): FollowUpState {
  let f = follow.get(key);
  if (f) {
    follow.delete(key); // re-insert: Map order is least-recently-used first
  } else {
    f = { key: -1, seq: 0, txSec: -1, txNsec: 0 };
    if (follow.size >= MAX_STATEFUL_SESSIONS) {
      const oldest = follow.keys().next().value;
      if (oldest !== undefined) follow.delete(oldest);
    }
  }
  follow.set(key, f);
  return f;
}

function reflectorSeq(sessions: Map<string, number>, key: string): number {
  const next = sessions.get(key) ?? 0;
  sessions.delete(key); // re-insert so Map order is least-recently-used first
  if (sessions.size >= MAX_STATEFUL_SESSIONS) {
    const oldest = sessions.keys().next().value;
    if (oldest !== undefined) sessions.delete(oldest);
  }
  sessions.set(key, (next + 1) % TWO_32);
  return next;
}
