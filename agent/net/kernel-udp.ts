import { QosProbeError } from "../errors.js";
import type { Libc } from "./libc.js";
import { RecvCtx } from "./recv.js";
import {
  bindSys,
  C,
  decodeSockaddr,
  ERRNO,
  encodeSockaddr,
  errnoName,
  openUdpFd,
  type Sys,
  SysError,
} from "./sys.js";
import type {
  Drained,
  OpenUdpOptions,
  RealtimeNs,
  SocketFault,
  TimestampedUdpSocket,
  TxStamp,
} from "./udp.js";

/** Errors that mean "no path right now" (an outage), not a broken measurement. */
const OUTAGE_ERRNOS = new Set(["ENETUNREACH", "EHOSTUNREACH", "ENETDOWN"]);

/** A TX stamp later than this after clock_gettime cannot be the datagram we think: use T1 from the clock. */
const MAX_TX_LAG_NS = 1_000_000_000n;
/** Sent datagrams remembered while their TX stamp is awaited (a driver without TX stamps never sends one). */
const MAX_AWAITED = 4096;

let warmedUp = false;

/**
 * The kernel-timestamped UDP socket on the main thread (the STAMP Session-Sender's). Readiness comes
 * from a libuv poll handle on the fd (koffi.node.poll), so nothing spins and nothing blocks; both
 * stamps are kernel times, so draining late (a busy event loop) changes no timestamp.
 */
export class KernelUdpSocket implements TimestampedUdpSocket {
  readonly timestamps = "kernel" as const;
  readonly txStamps = true;
  readonly family: 4 | 6;
  private readonly ctx: RecvCtx;
  private readonly awaited = new Map<number, { tag: number; t1: RealtimeNs }>();
  private nextKey = 0;
  private faults: SocketFault[] = [];
  private lastDropCounter = -1;
  private connected: boolean;
  private poller: ReturnType<Sys["koffi"]["node"]["poll"]> | undefined;
  private closed = false;
  private readonly peer: { buf: Buffer; len: number };
  private readonly remoteAddress: string;

  private constructor(
    private readonly sys: Sys,
    private readonly fd: number,
    o: OpenUdpOptions,
    connected: boolean,
  ) {
    this.family = o.remote.family;
    this.ctx = new RecvCtx(sys, 2048, 512);
    this.connected = connected;
    this.peer = encodeSockaddr(sys, o.remote.address, o.remote.port);
    this.remoteAddress = o.remote.address;
  }

  static open(libc: Libc, o: OpenUdpOptions): KernelUdpSocket {
    const sys = bindSys(libc);
    warmUp(sys);
    const base = { family: o.remote.family, txStamps: true, dscp: o.dscp, ...(o.ttl ? { ttl: o.ttl } : {}) };
    let opened: ReturnType<typeof openUdpFd>;
    let connected = true;
    try {
      opened = openUdpFd(sys, { ...base, connect: { address: o.remote.address, port: o.remote.port } });
    } catch (err) {
      if (!(err instanceof SysError && err.call === "connect" && OUTAGE_ERRNOS.has(err.code))) {
        throw new QosProbeError(
          "PROBE_SETUP",
          `cannot open a timestamped UDP socket: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      // No route now: open unconnected and retry connect() before each send, so every packet of an
      // outage counts as sent and lost with its reason, and the first one after the route returns flies.
      opened = openUdpFd(sys, base);
      connected = false;
    }
    return new KernelUdpSocket(sys, opened.fd, o, connected);
  }

  send(data: Buffer, tag: number, stamp: (t1: RealtimeNs) => void): number | undefined {
    const sys = this.sys;
    if (!this.connected) {
      if (Number(sys.connect(this.fd, this.peer.buf, this.peer.len)) < 0) {
        this.faults.push({ kind: "send", tag, code: errnoName(sys.libc.errno()) });
        return undefined;
      }
      this.connected = true;
    }
    const ctx = this.ctx;
    ctx.clockRealtime();
    const sec = ctx.clockSec;
    const nsec = ctx.clockNsec;
    const t1 = BigInt(sec) * 1_000_000_000n + BigInt(nsec);
    stamp(t1);
    const rc = Number(sys.sendto(this.fd, data, data.length, 0, null, 0));
    const errno = rc < 0 ? sys.libc.errno() : 0;
    ctx.clockRealtime();
    // From T1 (the clock read above, stamp() included) to the call's return.
    const callMs = (ctx.clockSec - sec) * 1e3 + (ctx.clockNsec - nsec) / 1e6;
    if (rc < 0) {
      // Linux takes the OPT_ID key back when the send fails (ip_append_data's error path).
      this.faults.push({ kind: "send", tag, code: errnoName(errno) });
      return callMs;
    }
    this.awaited.set(this.nextKey, { tag, t1 });
    this.nextKey = (this.nextKey + 1) >>> 0;
    if (this.awaited.size > MAX_AWAITED) {
      const oldest = this.awaited.keys().next().value;
      if (oldest !== undefined) this.awaited.delete(oldest);
    }
    return callMs;
  }

  drain(): Drained {
    const out: Drained = { datagrams: [], tx: [], faults: this.faults, kernelDrops: 0 };
    this.faults = [];
    if (this.closed) return out;
    const { ctx, fd } = this;
    const info = ctx.info;
    // Receive queue first, then the error queue: a reply's TX stamp was queued before the reply could
    // even leave, so after this order every reply read has its T1 stamp read too.
    for (;;) {
      const n = ctx.recv(fd, C.MSG_DONTWAIT);
      if (n === -ERRNO.EAGAIN) break;
      if (n === -ERRNO.EINTR) continue;
      if (n < 0) {
        // A pending socket error (ECONNREFUSED after an ICMP port unreachable) is reported once.
        out.faults.push({ kind: "receive", code: errnoName(-n) });
        continue;
      }
      if (info.dropCounter >= 0) this.countDrops(info.dropCounter, out);
      const kernel = info.tsSec >= 0;
      let rxNs: bigint;
      if (kernel) rxNs = BigInt(info.tsSec) * 1_000_000_000n + BigInt(info.tsNsec);
      else {
        ctx.clockRealtime();
        rxNs = BigInt(ctx.clockSec) * 1_000_000_000n + BigInt(ctx.clockNsec);
      }
      out.datagrams.push({
        data: Buffer.from(ctx.data.subarray(0, Math.min(n, ctx.dataSize))),
        rxNs,
        rxKernel: kernel,
        ttl: info.ttl >= 0 ? info.ttl : null,
        tclass: info.tclass >= 0 ? info.tclass : null,
      });
    }
    for (;;) {
      const n = ctx.recv(fd, C.MSG_ERRQUEUE | C.MSG_DONTWAIT);
      if (n === -ERRNO.EINTR) continue;
      if (n < 0) break;
      if (info.eeErrno === ERRNO.ENOMSG && info.eeOrigin === C.SO_EE_ORIGIN_TIMESTAMPING) {
        if (info.tsSec >= 0)
          this.txStamp(info.eeData, BigInt(info.tsSec) * 1_000_000_000n + BigInt(info.tsNsec), out.tx);
      } else if (info.eeErrno >= 0) {
        const offender = info.offenderOff >= 0 ? decodeSockaddr(this.sys, ctx.mem, info.offenderOff) : null;
        out.faults.push({
          kind: info.eeOrigin === C.SO_EE_ORIGIN_LOCAL ? "send" : "icmp",
          code: errnoName(info.eeErrno),
          ...(offender ? { offender: offender.address } : {}),
        });
      }
    }
    return out;
  }

  /** The address the socket sends to, as given (for matching an ICMP offender). */
  get remote(): string {
    return this.remoteAddress;
  }

  onReadable(cb: () => void): void {
    if (this.closed) return;
    this.poller?.close();
    // libuv stops a poll handle whose fd reports POLLERR (TX stamps and ICMP errors wait on the error
    // queue) and calls back with a negative status: drain both queues, then start it again. Level
    // triggered, so anything that arrived in between fires at once.
    // koffi 3.3.4 calls back with (status, events) although its typings say (events): cast.
    type PollCb = Parameters<Sys["koffi"]["node"]["poll"]>[1];
    const onEvent = ((status: number) => {
      cb();
      if (status < 0 && !this.closed && this.poller === handle) handle.start({ readable: true }, onEvent);
    }) as unknown as PollCb;
    const handle = this.sys.koffi.node.poll(this.fd, { readable: true }, onEvent);
    handle.unref();
    this.poller = handle;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close(); // before close(fd): libuv must stop watching the number first
    this.poller = undefined;
    this.sys.close(this.fd);
    this.ctx.free();
  }

  private txStamp(key: number, ns: bigint, out: TxStamp[]): void {
    const sent = this.awaited.get(key);
    if (!sent) return;
    this.awaited.delete(key);
    const lag = ns - sent.t1;
    // A stamp before our clock_gettime, or far after it, belongs to another datagram: keep clock T1.
    if (lag >= 0n && lag < MAX_TX_LAG_NS) out.push({ tag: sent.tag, ns });
  }

  private countDrops(counter: number, out: Drained): void {
    if (this.lastDropCounter >= 0) out.kernelDrops += (counter - this.lastDropCounter) >>> 0;
    else out.kernelDrops += counter;
    this.lastDropCounter = counter;
  }
}

/**
 * Linux stamps received packets only while some socket on the host wants RX timestamps (a static key,
 * switched off again when the last such socket closes): the first datagram after it turns on came
 * ≈ 0.26 ms late, and a datagram racing the switch can arrive with no stamp at all. Once per process,
 * open one RX-timestamping socket and keep it open for the life of the process, and send one datagram
 * through it on loopback, so no measured packet pays for the switch.
 */
function warmUp(sys: Sys): void {
  if (warmedUp) return;
  warmedUp = true;
  try {
    const s = openUdpFd(sys, { family: 4, bindAddress: "127.0.0.1", txStamps: true });
    const self = encodeSockaddr(sys, "127.0.0.1", s.localPort);
    sys.sendto(s.fd, Buffer.alloc(1), 1, 0, self.buf, self.len);
    // Deliberately never closed (CLOEXEC, one fd per process); its one datagram just sits there.
  } catch {
    // No IPv4 loopback (a namespace without lo up): each socket enables stamping for itself.
  }
}
