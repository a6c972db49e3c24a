import dgram from "node:dgram";
import type { Clock } from "../clock.js";
import { QosProbeError } from "../errors.js";
import type { Drained, OpenUdpOptions, RealtimeNs, SocketFault, TimestampedUdpSocket } from "./udp.js";

/**
 * The fallback where the FFI cannot load: Node's dgram, every timestamp taken in JavaScript. The
 * realtime scale is one wall-clock anchor plus monotonic deltas, so T4 − T1 is a true interval even if
 * the wall clock steps mid-run.
 */
export class DgramUdpSocket implements TimestampedUdpSocket {
  readonly timestamps = "user" as const;
  readonly txStamps = false;
  readonly family: 4 | 6;
  private pending: Drained = { datagrams: [], tx: [], faults: [], kernelDrops: 0 };
  private notify: (() => void) | undefined;
  private closed = false;
  private readonly anchorNs: bigint;
  private readonly anchorMono: number;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly clock: Clock,
    private readonly remote: OpenUdpOptions["remote"],
    private readonly connected: boolean,
  ) {
    this.family = remote.family;
    // The wall reading between two monotonic ones, kept to the nanosecond: clock.now() is
    // CLOCK_REALTIME (µs) where koffi loads, and a whole-ms anchor put T1/T4 up to 1 ms early.
    const before = clock.mono();
    const wallMs = clock.now();
    const after = clock.mono();
    this.anchorNs = BigInt(Math.round(wallMs * 1e6));
    this.anchorMono = (before + after) / 2;
    socket.on("message", (msg, rinfo) => {
      const rxNs = this.now(); // T4: first thing on receipt
      // Unconnected (no route at open): only the reflector's datagrams count.
      if (!this.connected && (rinfo.address !== remote.address || rinfo.port !== remote.port)) return;
      this.pending.datagrams.push({ data: msg, rxNs, rxKernel: false, ttl: null, tclass: null });
      this.notify?.();
    });
    socket.on("error", (err) => {
      this.pending.faults.push({ kind: "receive", code: (err as NodeJS.ErrnoException).code ?? err.message });
      this.notify?.();
    });
  }

  static async open(o: OpenUdpOptions): Promise<DgramUdpSocket> {
    // Node's dgram has no TOS setter; a result must never claim a DSCP its packets did not carry.
    if (o.dscp !== 0) {
      throw new QosProbeError(
        "PROBE_SETUP",
        `DSCP ${o.dscp} needs the kernel-timestamped socket, which is not available here (koffi not loaded, or QOSPROBE_TIMESTAMPS=user)`,
        { hint: "install with optional dependencies on Linux (npm install koffi), or use dscp: 0" },
      );
    }
    const socket = dgram.createSocket(o.remote.family === 6 ? "udp6" : "udp4");
    if (o.ttl) socket.once("listening", () => socket.setTTL(o.ttl as number));
    const connected = await new Promise<boolean>((resolve, reject) => {
      socket.once("error", (err) => {
        socket.close();
        reject(new QosProbeError("PROBE_SETUP", `cannot open a UDP socket: ${err.message}`, { cause: err }));
      });
      // Connected to the one reflector: send() then skips dgram's per-packet address lookup, and the
      // kernel drops datagrams from any other address or port before they reach us.
      socket.bind(0, () => {
        socket.removeAllListeners("error");
        // Node hands a failed connect to the callback (an 'error' event only without one). No route
        // now: stay unconnected and let each send report the outage.
        socket.connect(o.remote.port, o.remote.address, (...args: unknown[]) => resolve(!args[0]));
      });
    });
    socket.removeAllListeners("error");
    return new DgramUdpSocket(socket, o.clock, o.remote, connected);
  }

  private now(): RealtimeNs {
    return this.anchorNs + BigInt(Math.round((this.clock.mono() - this.anchorMono) * 1e6));
  }

  send(data: Buffer, tag: number, stamp: (t1: RealtimeNs) => void): undefined {
    stamp(this.now());
    const done = (err: Error | null) => {
      if (!err) return;
      const fault: SocketFault = {
        kind: "send",
        tag,
        code: (err as NodeJS.ErrnoException).code ?? err.message,
      };
      this.pending.faults.push(fault);
      this.notify?.();
    };
    if (this.connected) this.socket.send(data, done);
    else this.socket.send(data, this.remote.port, this.remote.address, done);
  }

  drain(): Drained {
    const out = this.pending;
    this.pending = { datagrams: [], tx: [], faults: [], kernelDrops: 0 };
    return out;
  }

  onReadable(cb: () => void): void {
    this.notify = cb;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.notify = undefined;
    this.socket.close();
  }
}
