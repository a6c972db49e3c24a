import dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns";
import { type AddressInfo, type BlockList, isIP, isIPv6 } from "node:net";
import { type Clock, systemClock } from "../../clock.js";
import { QosProbeError } from "../../errors.js";
import { type Logger, silentLogger } from "../../log.js";
import { libc as loadedFfi } from "../../net/libc.js";
import { REFLECTOR_RECEIVE_BUFFER_BYTES, STAMP_MAX_DATAGRAM_BYTES } from "../limits.js";
import type { ClockSyncState } from "../prober.js";
import { buildAllowList, isAllowed } from "./allowlist.js";
import { encodeErrorEstimate, errorEstimateFromSync } from "./error-estimate.js";
import { AnchoredClock, ntpFromEpochMs } from "./ntp.js";
import {
  AUTH_BASE_BYTES,
  baseBytes,
  checkTlvHmac,
  encodeReflectorPacket,
  MIN_SENDER_BYTES,
  markTlvsIntegrityFailed,
  type ParsedSenderPacket,
  parseSenderPacket,
  signTlvs,
  stampTransmitTime,
} from "./packet.js";
import { SourceRateLimiter } from "./rate-limit.js";
import { KernelReflectorEngine, type ReflectorThread } from "./reflector-kernel.js";

/** Which test packets the reflector answers. "both" tries HMAC first, then falls back to open mode. */
export type ReflectorAuthMode = "open" | "authenticated" | "both";

export interface ReflectorOptions {
  /** Address to bind: "0.0.0.0", "::" (dual stack), "127.0.0.1", … */
  host: string;
  /** UDP port; 0 = any free port (see `address()`). */
  port: number;
  /** Source of the S bit and error bound in our Error Estimate; a function so updates flow in. */
  clockSync: ClockSyncState | (() => ClockSyncState);
  authMode?: ReflectorAuthMode;
  /** Required for "authenticated" and "both". */
  authKey?: Buffer;
  /** Answer only these peers (addresses or CIDRs); absent or empty = everyone. */
  allow?: readonly string[];
  /** Per-source packets per second; absent or 0 = unlimited. */
  rateLimitPps?: number;
  /** Packets a source may send back to back; default one second's worth. */
  rateLimitBurst?: number;
  /** Per-session reflector sequence counter (RFC 8762 §4.3.1) instead of echoing the sender's. */
  stateful?: boolean;
  /**
   * Kernel socket only: where its packet loop runs (reflector-kernel.ts ReflectorThread); default
   * DEFAULT_REFLECTOR_THREAD.
   */
  thread?: ReflectorThread;
  /**
   * SO_RCVBUF to ask for, bytes; default limits.REFLECTOR_RECEIVE_BUFFER_BYTES (tests shrink it to provoke
   * kernel drops). What the kernel granted is `receiveBufferBytes` on the started reflector.
   */
  receiveBufferBytes?: number;
  clock?: Clock;
  log?: Logger;
}

export interface ReflectorCounters {
  received: number;
  reflected: number;
  dropped_malformed: number;
  dropped_auth: number;
  dropped_not_allowed: number;
  dropped_rate_limited: number;
  /**
   * Datagrams longer than a reflector takes (limits.STAMP_MAX_DATAGRAM_BYTES, 9216 bytes): not answered.
   * Both engines apply the same bound, so a sender's size limit does not depend on the reflector's host.
   */
  dropped_oversize: number;
  /**
   * Dropped by the kernel for a full receive queue (SO_RXQ_OVFL; `receiveBufferBytes` is its size). The
   * kernel reports them with the next datagram read, so a burst's drops appear once traffic resumes. 0 on
   * the dgram fallback, which cannot see them.
   */
  dropped_kernel: number;
  /** Replies whose residence time T3 − T2 exceeded 1 ms: time the host, not the network, added. */
  residence_over_1ms: number;
  /** Largest residence time T3 − T2 seen, µs. */
  residence_max_us: number;
  /**
   * Largest gap from a reply's T3 to the kernel's TX stamp of that reply, µs: the reflector was
   * descheduled between reading its clock and the send. 0 on the dgram fallback (no TX stamps).
   */
  reply_tx_gap_max_us: number;
  /** Replies that left more than 1 ms after their T3 (kernel socket only). */
  reply_tx_late_over_1ms: number;
  /**
   * Authenticated requests whose TLVs failed the HMAC TLV check (RFC 8972 §4.8): still answered, their
   * TLVs returned with the I flag and not processed (no follow-up).
   */
  tlv_hmac_failed: number;
}

/** Sessions remembered in stateful mode before the oldest is forgotten (memory bound). */
const MAX_STATEFUL_SESSIONS = 65_536;
/** Follow wall-clock steps between packets, but never inside one packet's T2..T3. */
const REANCHOR_EVERY_MS = 10_000;

/**
 * dgram resolves the destination of every unconnected send() through `lookup`; the default
 * (dns.lookup) answers even an IP literal on the next tick, so each reply would leave only after the
 * handler returns and the tick queue runs, time that falls after T3 and so lands in the sender's RTT.
 * Replies go to rinfo.address, always a literal: hand it straight back so send() goes out at once.
 */
export const literalLookup: NonNullable<dgram.SocketOptions["lookup"]> = (address, options, callback) => {
  const family = isIP(address);
  if (family === 0) dnsLookup(address, options, callback);
  else callback(null, address, family);
};

/**
 * A STAMP Session-Reflector (RFC 8762 §4.3) on one UDP socket. Stateless by default: the reflector
 * sequence number is the sender's. Replies are as long as the request (symmetric size) but at least
 * the base packet, with the request's padding and TLVs copied back.
 *
 * Where the FFI loads (agent/net), the packet loop runs on the kernel-timestamped socket, on the main
 * thread or in a worker thread of its own (`thread`; reflector-kernel.ts, reflector-loop.ts): T2 =
 * kernel RX stamp, T3 read just before sendto, Sender TTL copied, kernel drops counted. Elsewhere, or with QOSPROBE_TIMESTAMPS=user,
 * it runs here on dgram with user-space timestamps, Sender TTL 0 (unknown).
 */
export class Reflector {
  private readonly userCounters: ReflectorCounters = {
    received: 0,
    reflected: 0,
    dropped_malformed: 0,
    dropped_auth: 0,
    dropped_not_allowed: 0,
    dropped_rate_limited: 0,
    dropped_oversize: 0,
    dropped_kernel: 0,
    residence_over_1ms: 0,
    residence_max_us: 0,
    reply_tx_gap_max_us: 0,
    reply_tx_late_over_1ms: 0,
    tlv_hmac_failed: 0,
  };
  private kernel: KernelReflectorEngine | undefined;
  private socket: dgram.Socket | undefined;
  private allowList: BlockList | undefined;
  private limiter: SourceRateLimiter | undefined;
  private time: AnchoredClock | undefined;
  private lastAnchorMono = 0;
  private logger: Logger | undefined;
  private readonly sessions = new Map<string, number>();

  constructor(private readonly opts: ReflectorOptions) {}

  /** A snapshot of the counters (the worker's, read from shared memory, in kernel mode). */
  get counters(): ReflectorCounters {
    return this.kernel ? this.kernel.counters() : { ...this.userCounters };
  }

  /** "kernel" while the kernel-timestamped reflector runs, "user" on the dgram fallback. */
  get timestamps(): "kernel" | "user" {
    return this.kernel ? "kernel" : "user";
  }

  /**
   * Where the packet loop runs: the kernel engine's thread (ReflectorOptions.thread), or "main" on the
   * dgram fallback, which always runs on the event loop.
   */
  get thread(): ReflectorThread {
    return this.kernel ? this.kernel.thread : "main";
  }

  /**
   * The receive queue's limit in bytes as the kernel applies it (socket(7): twice the request, capped at
   * 2 × net.core.rmem_max); 0 before start.
   */
  get receiveBufferBytes(): number {
    if (this.kernel) return this.kernel.receiveBufferBytes;
    return this.socket ? this.socket.getRecvBufferSize() : 0;
  }

  async start(): Promise<void> {
    if (this.socket || this.kernel) return;
    const mode = this.opts.authMode ?? "open";
    if (mode !== "open" && !this.opts.authKey?.length) {
      throw new QosProbeError("CONFIG_INVALID", `reflector auth mode "${mode}" needs an HMAC key`, {
        hint: "give auth_key_file, or use auth mode open",
      });
    }
    this.allowList = this.opts.allow?.length ? buildAllowList(this.opts.allow) : undefined;
    const pps = this.opts.rateLimitPps ?? 0;
    this.limiter =
      pps > 0 ? new SourceRateLimiter(pps, this.opts.rateLimitBurst ?? Math.max(1, pps)) : undefined;
    const ffi = loadedFfi();
    if (ffi) {
      this.kernel = await KernelReflectorEngine.start(ffi, this.opts);
      return;
    }
    const clock = this.opts.clock ?? systemClock;
    this.logger = this.opts.log ?? silentLogger();
    if (this.opts.thread === "worker") {
      // Asked for, not honoured: the dgram fallback always runs on the event loop. Said once, at start.
      this.logger.warn(
        { thread_asked: "worker", thread: "main", timestamps: "user" },
        "reflector thread worker asked for, but user timestamps (QOSPROBE_TIMESTAMPS=user, or no koffi) run on the main thread",
      );
    }
    this.time = new AnchoredClock(clock);
    this.lastAnchorMono = clock.mono();

    const socket = dgram.createSocket({
      type: isIPv6(this.opts.host) ? "udp6" : "udp4",
      lookup: literalLookup,
      recvBufferSize: this.opts.receiveBufferBytes ?? REFLECTOR_RECEIVE_BUFFER_BYTES,
    });
    socket.on("message", (msg, rinfo) => this.onMessage(msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(
          new QosProbeError(
            "PROBE_SETUP",
            `cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`,
            {
              cause: err,
              hint: bindHint((err as NodeJS.ErrnoException).code, this.opts.port),
            },
          ),
        );
      };
      socket.once("error", onError);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off("error", onError);
        resolve();
      });
    });
    socket.on("error", (err) => this.logger?.warn({ err }, "reflector socket error"));
    this.socket = socket;
  }

  async stop(): Promise<void> {
    const kernel = this.kernel;
    if (kernel) {
      this.kernel = undefined;
      await kernel.stop();
      return;
    }
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** The bound address and port (tests bind port 0). */
  address(): AddressInfo {
    if (this.kernel) return this.kernel.address();
    if (!this.socket) throw new QosProbeError("PROBE_SETUP", "reflector is not started");
    return this.socket.address();
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const clock = this.opts.clock ?? systemClock;
    const t2Mono = clock.mono(); // T2: first thing on receipt
    const time = this.time;
    const socket = this.socket;
    if (!time || !socket) return;
    this.userCounters.received += 1;
    try {
      // The kernel loop's order (reflector-loop.ts): size, allow list, rate limit, parse; so a runt
      // spends no source's rate budget in either engine. The smallest request anyone sends is a
      // TWAMP-light sender's 14 bytes (sequence, timestamp, error estimate).
      if (msg.length > STAMP_MAX_DATAGRAM_BYTES) {
        this.userCounters.dropped_oversize += 1;
        return;
      }
      if (msg.length < MIN_SENDER_BYTES) {
        this.userCounters.dropped_malformed += 1;
        return;
      }
      if (this.allowList && !isAllowed(this.allowList, rinfo.address)) {
        this.userCounters.dropped_not_allowed += 1;
        return;
      }
      if (this.limiter && !this.limiter.allow(rinfo.address, t2Mono)) {
        this.userCounters.dropped_rate_limited += 1;
        return;
      }
      const request = this.parse(msg);
      if (!request) return;

      const sync = typeof this.opts.clockSync === "function" ? this.opts.clockSync() : this.opts.clockSync;
      const errorEstimate = encodeErrorEstimate(errorEstimateFromSync(sync));
      const t2 = ntpFromEpochMs(time.epochMsAt(t2Mono));
      const authKey = request.mode === "authenticated" ? this.opts.authKey : undefined;
      const reply = encodeReflectorPacket(
        {
          seq: this.reflectorSeq(request, rinfo),
          timestamp: t2, // overwritten with T3 just before send
          errorEstimate,
          ssid: request.ssid ?? 0,
          receiveTimestamp: t2,
          senderSeq: request.seq,
          senderTimestamp: request.timestamp,
          senderErrorEstimate: request.errorEstimate,
          // Node's dgram cannot read the received TTL (no IP_RECVTTL ancillary data): 0 = not known.
          senderTtl: 0,
        },
        // Symmetric size (RFC 8762 §4.3), but never below the base packet: a TWAMP-light sender's
        // 14-byte request still gets every reflector field. That bounds amplification to 44/14 on the
        // smallest requests, and the per-source rate limit bounds the rest.
        {
          length: Math.max(msg.length, baseBytes(request.mode)),
          request: msg,
          ...(authKey ? { authKey } : {}),
        },
      );
      // TLVs are copied back unprocessed here (no Follow-Up Telemetry without TX stamps), but an
      // authenticated request's HMAC TLV (RFC 8972 §4.8) is checked and the reply's re-signed over our
      // Sequence Number, or every TLV marked integrity-failed.
      const base = baseBytes(request.mode);
      if (authKey && msg.length > base) {
        if (checkTlvHmac(authKey, msg, base) === "failed") {
          markTlvsIntegrityFailed(reply, base);
          this.userCounters.tlv_hmac_failed += 1;
        } else signTlvs(authKey, reply, base);
      }
      const t3Ms = time.nowEpochMs();
      stampTransmitTime(reply, ntpFromEpochMs(t3Ms), authKey); // T3: just before send
      socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.logger?.debug({ err, peer: rinfo.address }, "reply not sent");
        else this.userCounters.reflected += 1;
      });
      const residenceUs = (t3Ms - time.epochMsAt(t2Mono)) * 1000;
      if (residenceUs > 1000) this.userCounters.residence_over_1ms += 1;
      this.userCounters.residence_max_us = Math.max(
        this.userCounters.residence_max_us,
        Math.round(residenceUs),
      );
      if (t2Mono - this.lastAnchorMono > REANCHOR_EVERY_MS) {
        time.reanchor();
        this.lastAnchorMono = clock.mono();
      }
    } catch (err) {
      // A packet must never take the reflector down; anything unexpected counts as malformed.
      this.userCounters.dropped_malformed += 1;
      this.logger?.debug({ err, peer: rinfo.address }, "test packet dropped");
    }
  }

  /** Parse by auth mode; counts and returns undefined for packets we will not answer. */
  private parse(msg: Buffer): ParsedSenderPacket | undefined {
    const mode = this.opts.authMode ?? "open";
    const key = this.opts.authKey;
    if (mode !== "open" && key && msg.length >= AUTH_BASE_BYTES) {
      try {
        return parseSenderPacket(msg, key);
      } catch (err) {
        if (mode === "authenticated") return this.reject(err);
      }
    }
    if (mode === "authenticated") {
      this.userCounters.dropped_auth += 1;
      return undefined;
    }
    try {
      return parseSenderPacket(msg);
    } catch (err) {
      return this.reject(err);
    }
  }

  private reject(err: unknown): undefined {
    if (err instanceof QosProbeError && err.code === "PACKET_AUTH") this.userCounters.dropped_auth += 1;
    else this.userCounters.dropped_malformed += 1;
    return undefined;
  }

  private reflectorSeq(request: ParsedSenderPacket, rinfo: dgram.RemoteInfo): number {
    if (!this.opts.stateful) return request.seq;
    const key = `${rinfo.address}|${rinfo.port}|${request.ssid ?? 0}`;
    const next = this.sessions.get(key) ?? 0;
    this.sessions.delete(key); // re-insert so Map order is least-recently-used first
    if (this.sessions.size >= MAX_STATEFUL_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(key, (next + 1) % 2 ** 32);
    return next;
  }
}

/** What to do about a failed bind, by its errno: the fix for "in use" and for "not allowed" differ. */
export function bindHint(code: string | undefined, port: number): string {
  if (code === "EADDRINUSE")
    return `something already listens on UDP port ${port} (another reflector or agent?)`;
  if (code === "EACCES")
    return `port ${port} is privileged: run with CAP_NET_BIND_SERVICE (the systemd unit grants it)`;
  if (code === "EADDRNOTAVAIL") return "that address is not on this host: check the listen address";
  return "check the listen address and port";
}
