import { lookup } from "node:dns/promises";
import { ProbeFaultError, QosProbeError } from "../../errors.js";
import type { ReceivedDatagram, SocketFault, TimestampedUdpSocket } from "../../net/udp.js";
import { openTimestampedUdp } from "../../net/udp.js";
import { checkStampSize } from "../limits.js";
import { type ProbeContext, type Prober, type ProbeSpec, reportFault, type Sample } from "../prober.js";
import { sendOffsets } from "../send-times.js";
import { encodeErrorEstimate, errorEstimateFromSync } from "./error-estimate.js";
import { type NtpTime, ntpFromNs } from "./ntp.js";
import {
  baseBytes,
  encodeSenderPacket,
  followUpFits,
  type ParsedReflectorPacket,
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

/** Where an errno from sending means "no path now": loss with its reason, an outage (issue 9). */
const OUTAGE_CODES = new Set(["ENETUNREACH", "EHOSTUNREACH", "ENETDOWN"]);

/**
 * The `stamp` prober: a STAMP Session-Sender (RFC 8762 §4.2) against one reflector, on the
 * timestamped UDP socket (agent/net). Kernel mode: T1 = the kernel's TX stamp (the clock read just
 * before send() where no TX stamp comes, said per sample), T4 = the kernel's RX stamp, both
 * CLOCK_REALTIME; replies and stamps are read whenever the main loop gets to them, which moves no
 * timestamp. User mode (dgram): T1/T4 from one wall anchor plus monotonic deltas, as before.
 *
 * Faults of the measurement (issue 9) are thrown as `fault` errors, never reported as path loss (a
 * reflector that answered some packets and refused others is reported as a fault with its samples kept):
 * REFLECTOR_UNREACHABLE (ICMP port unreachable from the reflector: nothing listens there) and
 * STAMP_AUTH (replies came but none passed the HMAC check: the keys differ).
 */
export const stamp: Prober = async (spec, ctx) => {
  const target = await resolveTarget(spec);
  ctx.onTarget?.({ address: target.address, family: target.family });
  // A size the packet cannot have would be padded (reported, not sent) or dropped by the reflector.
  checkStampSize(
    spec.packet_size_bytes,
    target.family,
    spec.auth_key?.length ? "authenticated" : "unauthenticated",
  );
  const socket = await openTimestampedUdp({ remote: target, dscp: spec.dscp, clock: ctx.clock });
  try {
    return await runSession(socket, target, spec, ctx);
  } finally {
    socket.close();
  }
};

async function runSession(socket: TimestampedUdpSocket, target: Target, spec: ProbeSpec, ctx: ProbeContext) {
  const { clock, signal } = ctx;
  const authKey = spec.auth_key?.length ? spec.auth_key : undefined;
  const mode: StampMode = authKey ? "authenticated" : "unauthenticated";
  const length = udpPayloadBytes(spec.packet_size_bytes, target.family, mode);
  const errorEstimate = encodeErrorEstimate(errorEstimateFromSync(ctx.clockSync));
  const book = new SessionBook(spec.loss_timeout_ms, ctx.clockSync.synced, ctx.onSample);
  const counts: Record<
    | ReplyVerdict
    | "malformed"
    | "auth_failed"
    | "auth_open_replies"
    | "refused_icmp"
    | "refused_send"
    | "refused_recv"
    | "send_failed"
    | "kernel_drops"
    | "tlv_hmac_failed",
    number
  > = {
    matched: 0,
    late: 0,
    duplicate: 0,
    "unknown-seq": 0,
    "mismatched-timestamp": 0,
    malformed: 0,
    auth_failed: 0,
    auth_open_replies: 0,
    refused_icmp: 0,
    refused_send: 0,
    refused_recv: 0,
    send_failed: 0,
    kernel_drops: 0,
    tlv_hmac_failed: 0,
  };
  let lastSendError = "";
  // Follow-Up Telemetry (RFC 8972 §4.7): ask the reflector for each reply's real transmit time, in
  // authenticated mode under an HMAC TLV (§4.8). Where the packet has no room for the TLV(s), nothing is
  // asked and every reply's T3 stays unconfirmed (metrics/timing-error.ts counts them).
  const followUp = followUpFits(length - baseBytes(mode), mode);
  const t1Clock = new Map<number, bigint>(); // seq → the clock's T1 (written into the packet), ns
  const sendCall = new Map<number, number>(); // seq → how long its send() call took, ms
  const t1Kernel = new Map<number, bigint>(); // seq → the kernel's TX stamp, ns
  let allSent = false;
  let wake: AbortController | undefined;
  /** Sequence Number of the follow-up trailer (see below), once sent; its reply is not a sample. */
  let trailerSeq: number | undefined;
  let trailerAnswered = false;

  const onReply = (d: ReceivedDatagram) => {
    let reply: ParsedReflectorPacket;
    try {
      reply = parseReflectorPacket(d.data, authKey);
    } catch (err) {
      if (err instanceof QosProbeError && err.code === "PACKET_AUTH") {
        counts.auth_failed += 1;
        if (answeredUnauthenticated(d.data, t1Clock)) counts.auth_open_replies += 1;
      } else counts.malformed += 1;
      return;
    }
    // TLVs that failed their HMAC (authenticated): the reply's base packet verified and is measured,
    // its follow-up (if any) is not trusted. Counted here and on the samples' quality.
    if (reply.tlvHmacFailed) counts.tlv_hmac_failed += 1;
    const seq = reply.senderSeq;
    if (trailerSeq !== undefined && seq === trailerSeq) {
      // The trailer's reply: only its follow-up (the last measured reply's real transmit time) is used.
      if (reply.followUp) book.followUp(reply.followUp);
      trailerAnswered = true;
      wake?.abort();
      return;
    }
    const clockT1 = t1Clock.get(seq);
    if (clockT1 === undefined) {
      counts["unknown-seq"] += 1;
      return;
    }
    const kernelT1 = t1Kernel.get(seq);
    const t1 = kernelT1 ?? clockT1;
    const callMs = sendCall.get(seq);
    const extra: Partial<Sample> = {
      timestamps: d.rxKernel ? "kernel" : "user",
      t1_source: kernelT1 === undefined ? "clock" : "kernel-tx",
      ...(kernelT1 === undefined ? {} : { t1_lag_ms: Number(kernelT1 - clockT1) / 1e6 }),
      ...(callMs === undefined ? {} : { send_call_ms: callMs }),
      ...(reply.senderTtl ? { sender_ttl: reply.senderTtl } : {}),
      ...(followUp ? { follow_up_requested: true } : {}),
      ...(reply.tlvHmacFailed ? { tlv_hmac_failed: true } : {}),
    };
    counts[
      book.replyMeasured(reply, {
        roundTripMs: Number(d.rxNs - t1) / 1e6,
        t1: ntpFromNs(t1),
        t4: ntpFromNs(d.rxNs),
        extra,
      })
    ] += 1;
  };

  const onFault = (f: SocketFault) => {
    // ECONNREFUSED: an ICMP port unreachable, from the reflector's address (the kernel socket names the
    // offender; a connected dgram socket only hears about its own peer).
    // The kernel socket hears one port unreachable twice: on its error queue (kind "icmp") and as the
    // socket's pending error, taken by the next send() (that packet is not sent) or recvmsg(). The dgram
    // socket hears only the second. Counted apart, the refusals are the largest count, not the sum.
    if (f.code === "ECONNREFUSED" && (f.offender === undefined || sameAddress(f.offender, target.address))) {
      counts[f.kind === "send" ? "refused_send" : f.kind === "icmp" ? "refused_icmp" : "refused_recv"] += 1;
    }
    if (trailerSeq !== undefined && (f.tag === trailerSeq || f.code === "ECONNREFUSED")) {
      // The trailer did not leave, or the reflector is gone: nothing to wait for.
      trailerAnswered = true;
      wake?.abort();
    }
    if (f.kind === "send" && f.tag !== undefined && f.tag !== trailerSeq) {
      book.sendFailed(f.tag, f.code);
      // Not a missing path nor a refusal (EMSGSIZE, EPERM from a local firewall, …): this host's fault.
      if (!OUTAGE_CODES.has(f.code) && f.code !== "ECONNREFUSED") {
        counts.send_failed += 1;
        lastSendError = f.code;
      }
    } else ctx.log.debug({ fault: f }, "stamp socket fault");
  };

  // Everything waiting on the socket, in order: TX stamps, faults, replies. Called on every wake-up
  // and before every expiry, so a reply the kernel stamped in time is never judged lost.
  const drain = () => {
    const d = socket.drain();
    for (const t of d.tx) t1Kernel.set(t.tag, t.ns);
    for (const f of d.faults) onFault(f);
    for (const dg of d.datagrams) onReply(dg);
    counts.kernel_drops += d.kernelDrops;
    if (allSent && book.pendingCount === 0 && trailerSeq === undefined) wake?.abort();
  };
  socket.onReadable(drain);

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
    const packet = encodeSenderPacket(
      { seq, timestamp: UNSTAMPED, errorEstimate, ssid },
      { length, followUp, ...(authKey ? { authKey } : {}) },
    );
    let t1: NtpTime = UNSTAMPED;
    let t1Ns = 0n;
    // The socket reads the clock just before send() and hands it here to write in (and, authenticated,
    // re-sign): the Timestamp field sits where the reflector's T3 does, so one writer serves both.
    const callMs = socket.send(packet, seq, (ns) => {
      t1Ns = ns;
      t1 = ntpFromNs(ns);
      stampTransmitTime(packet, t1, authKey);
    });
    if (callMs !== undefined) sendCall.set(seq, callMs);
    const sentMono = clock.mono();
    t1Clock.set(seq, t1Ns);
    book.sent({ seq, sentMono, t1, sentAtMs: Number(t1Ns) / 1e6, sendErrorMs: sentMono - scheduled });
    drain();
    book.expire(sentMono);
    seq += 1;
  }
  allSent = true;

  // Wait out the last packet's slot (so a duplicate of the last reply is still seen), then any
  // replies still due until their loss timeout; an abort stops waiting at once.
  const slotEnd = scheduled + spec.interval_ms;
  for (;;) {
    drain();
    book.expire(clock.mono());
    if (signal.aborted || (book.pendingCount === 0 && clock.mono() >= slotEnd)) break;
    const until = book.nextDeadline() ?? slotEnd;
    wake = new AbortController();
    try {
      await clock.sleep(until - clock.mono(), AbortSignal.any([signal, wake.signal]));
    } catch {
      // woken: everything answered, or aborted
    }
  }
  // A short grace for the last wake-up's data is not needed: drain() ran right before the last expiry.

  // Follow-up trailer: the interval's last reply would stay unconfirmed, its follow-up riding on a reply
  // that never comes — and the last reply is as likely as any to have been held between its T3 and the
  // wire (a loaded reflector at an agent's start-up: 3.75 ms). So one more packet goes out on the same
  // session, after every measured packet is settled, and its reply's Follow-Up Telemetry corrects the
  // last reply's T3. The trailer is not part of the interval: not counted sent, its own delay unused.
  // That hides nothing: a sample is the packets sent at the stream's scheduled times from T0 to Tf
  // (RFC 7679 §4, RFC 3432 §4 for periodic streams), and the trailer leaves after Tf, excluded before
  // it is sent, never for what it measured. It is sent only when the latest reply is unconfirmed and
  // the reflector confirms T3s, waits at most the loss timeout, and an abort stops it. Nothing about the
  // measured packets changes but a T3 made exact (a reflector's delay before T3 was never in the RTT).
  if (followUp && !signal.aborted && book.awaitingFollowUp) {
    trailerSeq = seq;
    const packet = encodeSenderPacket(
      { seq, timestamp: UNSTAMPED, errorEstimate, ssid },
      { length, followUp, ...(authKey ? { authKey } : {}) },
    );
    socket.send(packet, seq, (ns) => stampTransmitTime(packet, ntpFromNs(ns), authKey));
    const giveUp = clock.mono() + spec.loss_timeout_ms;
    while (!trailerAnswered && !signal.aborted && clock.mono() < giveUp) {
      wake = new AbortController();
      drain();
      if (trailerAnswered) break;
      try {
        await clock.sleep(giveUp - clock.mono(), AbortSignal.any([signal, wake.signal]));
      } catch {
        // woken: the trailer's reply came, or aborted
      }
    }
  }

  ctx.log.debug(
    { ...counts, pending: book.pendingCount, timestamps: socket.timestamps },
    "stamp session done",
  );
  const refused = refusalCount(counts, seq, counts.matched);
  if (refused > 0 && counts.matched > 0) {
    // It answered, then refused (stopped or restarted mid-interval), or the reverse: still a fault of
    // the measurement, but what was measured stays in the result (issue 9: sent and received as they
    // were, never "sent 0").
    reportFault(ctx.facts, {
      code: "REFLECTOR_UNREACHABLE",
      message: `the reflector ${target.address} port ${target.port} answered ${counts.matched} packets and refused others with ICMP port unreachable (${refused}×): it stopped or restarted during the interval`,
    });
    return book.samples();
  }
  if (refused > 0) {
    throw new QosProbeError(
      "REFLECTOR_UNREACHABLE",
      `the reflector ${target.address} port ${target.port} answered ICMP port unreachable (${refused}×): nothing listens there`,
      {
        fault: true,
        hint: "check that the peer's reflector runs and listens on this address family and port",
      },
    );
  }
  if (counts.send_failed > 0) {
    throw new QosProbeError(
      "SEND_FAILED",
      `${counts.send_failed} STAMP packets to ${target.address} could not be sent: ${lastSendError}`,
      { fault: true, hint: "EMSGSIZE: lower packet_size_bytes; EPERM: a local firewall rejects the traffic" },
    );
  }
  if (counts.auth_failed > 0 && counts.matched === 0) {
    // Every failed reply an unauthenticated one answering our packet: the reflector took our packets for
    // open-mode ones (it runs open mode, or "both" with another key, which falls back to open); "the keys
    // differ" alone would hide the first.
    const open = counts.auth_open_replies === counts.auth_failed;
    throw new QosProbeError(
      "STAMP_AUTH",
      `${counts.auth_failed} STAMP replies from ${target.address} failed the HMAC check and none passed${open ? ": they came back unauthenticated (RFC 8762 §4.3.1), the reflector answered them as open-mode packets" : ""}`,
      {
        fault: true,
        hint: open
          ? "the reflector runs open mode only, or mode both with another key: give it authenticated mode and the same key (qos-probe reflect --auth-mode both --auth-key-file FILE; agent: reflector.auth), or test without the key"
          : "the sender's auth_key and the reflector's key differ",
      },
    );
  }
  if (counts.auth_failed > 0)
    ctx.log.warn({ auth_failed: counts.auth_failed }, "STAMP replies failed the HMAC check");
  return book.samples();
}

/**
 * How many of this interval's packets the reflector refused (ICMP port unreachable), as reported in
 * REFLECTOR_UNREACHABLE. The kernel socket hears one refusal twice — on its error queue (`icmp`) and as
 * the pending error the next send() (`send`) or recvmsg() (`recv`) takes — and the dgram socket only
 * the second, so the views are not added: the largest of them. Capped at `sent − received` (lost and
 * unanswered packets, whatever their reply's fate): a refusal only explains a packet that got no reply;
 * more port unreachables than that are about packets of an earlier session on the same 5-tuple, or
 * arrived while those packets were still pending and were answered after all (a reflector restarting).
 */
export function refusalCount(
  views: { refused_icmp: number; refused_send: number; refused_recv: number },
  sent: number,
  received: number,
): number {
  const heard = Math.max(views.refused_icmp, views.refused_send, views.refused_recv);
  return Math.max(0, Math.min(heard, sent - received));
}

/**
 * Whether a reply that failed the authenticated HMAC check is an unauthenticated reply (RFC 8762
 * §4.3.1) to one of our packets: a reflector in open mode reads our authenticated request as an
 * unauthenticated one, so it echoes our Sequence Number at octets 24..27 and, as the request's
 * Timestamp, octets 4..11 of our packet, which are MBZ in authenticated mode (zero). An authenticated
 * reply has the Error Estimate and SSID at 24..27 and its Receive Timestamp's seconds at 32..35 (never
 * zero), so it does not pass for one.
 */
export function answeredUnauthenticated(reply: Buffer, sent: ReadonlyMap<number, unknown>): boolean {
  let p: ParsedReflectorPacket;
  try {
    p = parseReflectorPacket(reply);
  } catch {
    return false;
  }
  const t = p.senderTimestamp;
  return sent.has(p.senderSeq) && t !== null && t.seconds === 0 && t.fraction === 0;
}

/** Two spellings of one address ("::ffff:127.0.0.1" vs "127.0.0.1") are the same reflector. */
function sameAddress(a: string, b: string): boolean {
  const plain = (x: string) => x.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").toLowerCase();
  return plain(a) === plain(b);
}
