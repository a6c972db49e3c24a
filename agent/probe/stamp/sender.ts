import dgram from "node:dgram";
import { lookup } from "node:dns/promises";
import { ProbeFaultError, QosProbeError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { noteTarget, type ProbeContext, type Prober, type ProbeSpec } from "../prober.js";
import { sendOffsets } from "../send-times.js";
import { encodeErrorEstimate, errorEstimateFromSync } from "./error-estimate.js";
import { AnchoredClock, type NtpTime, ntpFromEpochMs } from "./ntp.js";
import {
  baseBytes,
  encodeSenderPacket,
  parseReflectorPacket,
  type StampMode,
  stampTransmitTime,
} from "./packet.js";
import { type ReplyVerdict, SessionBook } from "./session.js";

/** IANA port for STAMP (RFC 8762 §4.1). */
export const STAMP_PORT = 862;

/** IP + UDP header bytes: spec.packet_size_bytes counts the whole IP packet. */
const IP_UDP_OVERHEAD = { 4: 20 + 8, 6: 40 + 8 } as const;

/** UDP payload length that makes the IP packet `ipBytes` long, never below the mode's base packet. */
export function udpPayloadBytes(ipBytes: number, family: 4 | 6, mode: StampMode): number {
  return Math.max(baseBytes(mode), ipBytes - IP_UDP_OVERHEAD[family]);
}

/** Placeholder Timestamp while encoding; T1 is written over it just before send. */
const UNSTAMPED: NtpTime = { seconds: 0, fraction: 0 };

interface Target {
  address: string;
  family: 4 | 6;
  port: number;
}

async function resolveTarget(spec: ProbeSpec): Promise<Target> {
  try {
    const found = await lookup(spec.host, { family: spec.family ?? 0, verbatim: true });
    return { address: found.address, family: found.family === 6 ? 6 : 4, port: spec.port ?? STAMP_PORT };
  } catch (err) {
    throw new ProbeFaultError("NAME_UNRESOLVABLE", `cannot resolve ${spec.host}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function openSocket(target: Target, dscp: number, log: Logger): Promise<dgram.Socket> {
  // Node's dgram has no TOS setter; a result must never claim a DSCP the packets did not carry, so a
  // marked test refuses to run rather than silently measuring best effort.
  if (dscp !== 0) {
    throw new QosProbeError("PROBE_SETUP", `DSCP ${dscp} cannot be set on UDP sockets by this Node.js`, {
      hint: "use dscp: 0 for stamp tests, or an icmp test (ping -Q) for marked traffic",
    });
  }
  const socket = dgram.createSocket(target.family === 6 ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", (err) => {
      socket.close();
      reject(new QosProbeError("PROBE_SETUP", `cannot open a UDP socket: ${err.message}`, { cause: err }));
    });
    // Connected to the one reflector: send() then skips dgram's per-packet address lookup, which
    // defers every datagram by a tick (measured ≈ 10–50 µs between T1 and the wire on loopback),
    // and the kernel drops datagrams from any other address or port before they reach us.
    socket.bind(0, () => socket.connect(target.port, target.address, () => resolve()));
  });
  socket.removeAllListeners("error");
  socket.on("error", (err) => log.debug({ err }, "stamp socket error"));
  return socket;
}

/**
 * The `stamp` prober: a STAMP Session-Sender (RFC 8762 §4.2) against one reflector. T1 and T4 come
 * from the monotonic clock mapped onto the wall clock through a single anchor taken at the start, so
 * T4 − T1 is a true interval even if NTP steps the wall clock mid-run, while T1/T4 remain on the UTC
 * scale the reflector's T2/T3 use for one-way delays.
 */
export const stamp: Prober = async (spec, ctx) => {
  const target = await resolveTarget(spec);
  noteTarget(ctx.facts, target);
  const socket = await openSocket(target, spec.dscp, ctx.log);
  try {
    return await runSession(socket, target, spec, ctx);
  } finally {
    socket.close();
  }
};

async function runSession(socket: dgram.Socket, target: Target, spec: ProbeSpec, ctx: ProbeContext) {
  const { clock, signal } = ctx;
  const authKey = spec.auth_key?.length ? spec.auth_key : undefined;
  const mode: StampMode = authKey ? "authenticated" : "unauthenticated";
  const length = udpPayloadBytes(spec.packet_size_bytes, target.family, mode);
  const errorEstimate = encodeErrorEstimate(errorEstimateFromSync(ctx.clockSync));
  const time = new AnchoredClock(clock);
  const book = new SessionBook(spec.loss_timeout_ms, ctx.clockSync.synced, ctx.onSample);
  const counts: Record<ReplyVerdict | "malformed" | "auth_failed", number> = {
    matched: 0,
    late: 0,
    duplicate: 0,
    "unknown-seq": 0,
    "mismatched-timestamp": 0,
    malformed: 0,
    auth_failed: 0,
  };
  let allSent = false;
  let wake: AbortController | undefined;

  // The socket is connected: only the reflector's address and port get here (the kernel filters).
  socket.on("message", (msg) => {
    const t4Mono = clock.mono(); // T4: first thing on receipt
    try {
      const reply = parseReflectorPacket(msg, authKey);
      counts[book.reply(reply, t4Mono, ntpFromEpochMs(time.epochMsAt(t4Mono)))] += 1;
    } catch (err) {
      if (err instanceof QosProbeError && err.code === "PACKET_AUTH") counts.auth_failed += 1;
      else counts.malformed += 1;
    }
    if (allSent && book.pendingCount === 0) wake?.abort();
  });

  const ssid = spec.ssid ?? 0;
  const start = clock.mono();
  let scheduled = start;
  let seq = 0;
  for (const offset of sendOffsets(spec)) {
    scheduled = start + offset;
    try {
      await clock.sleep(scheduled - clock.mono(), signal);
    } catch {
      break; // aborted: packets not yet sent are not part of the result
    }
    // Encode first, then take T1 and write it in: T1 (the send time) is the last thing before
    // send(), so encoding and bookkeeping stay out of T1 → wire and so out of the RTT.
    const packet = encodeSenderPacket(
      { seq, timestamp: UNSTAMPED, errorEstimate, ssid },
      { length, ...(authKey ? { authKey } : {}) },
    );
    const sentMono = clock.mono();
    const t1 = ntpFromEpochMs(time.epochMsAt(sentMono));
    // The Timestamp field sits where the reflector's T3 does (octet 4, or 16 authenticated), so the
    // same writer stamps it and, authenticated, re-signs over it.
    stampTransmitTime(packet, t1, authKey);
    socket.send(packet, (err) => {
      if (!err) return;
      ctx.log.debug({ err, seq }, "probe packet not sent");
      book.sendFailed(seq);
      if (allSent && book.pendingCount === 0) wake?.abort();
    });
    // A send completes or fails through its callback on a later tick, and replies are read on a
    // later loop turn, so recording the packet after send() is still before either can arrive.
    book.sent({ seq, sentMono, t1, sentAtMs: time.epochMsAt(sentMono), sendErrorMs: sentMono - scheduled });
    book.expire(sentMono);
    seq += 1;
  }
  allSent = true;

  // Wait out the last packet's slot (so a duplicate of the last reply is still seen), then any
  // replies still due until their loss timeout; an abort stops waiting at once.
  const slotEnd = scheduled + spec.interval_ms;
  while (!signal.aborted && (book.pendingCount > 0 || clock.mono() < slotEnd)) {
    const until = book.nextDeadline() ?? slotEnd;
    wake = new AbortController();
    try {
      await clock.sleep(until - clock.mono(), AbortSignal.any([signal, wake.signal]));
    } catch {
      // woken: everything answered, or aborted
    }
    book.expire(clock.mono());
  }

  if (counts.auth_failed > 0)
    ctx.log.warn({ auth_failed: counts.auth_failed }, "STAMP replies failed the HMAC check");
  ctx.log.debug({ ...counts, pending: book.pendingCount }, "stamp session done");
  return book.samples();
}
