import type { Clock } from "../clock.js";
import { DgramUdpSocket } from "./dgram-udp.js";
import { KernelUdpSocket } from "./kernel-udp.js";
import { ffiDisabled, libc } from "./libc.js";

/**
 * A connected UDP socket that reports when each datagram really left and arrived, behind one interface
 * with two implementations:
 * - "kernel" (Linux, koffi loaded): SO_TIMESTAMPING software RX and TX stamps (CLOCK_REALTIME, taken by
 *   the kernel, so reading them late costs no accuracy), DSCP via IP_TOS / IPV6_TCLASS, received TTL and
 *   TOS, SO_RXQ_OVFL kernel drops and ICMP errors from the error queue (IP_RECVERR);
 * - "user" (anything else, or QOSPROBE_TIMESTAMPS=user): Node's dgram, stamped in JavaScript when the
 *   event loop gets to the datagram. It cannot set a DSCP and refuses a nonzero one.
 * Every result says which one it used (`quality.timestamps`).
 */
export type TimestampSource = "kernel" | "user";

/** Realtime nanoseconds since 1970 (CLOCK_REALTIME in kernel mode). */
export type RealtimeNs = bigint;

export interface ReceivedDatagram {
  /** A copy of the payload. */
  data: Buffer;
  /** When it arrived: the kernel's RX stamp, or the user clock when `rxKernel` is false. */
  rxNs: RealtimeNs;
  rxKernel: boolean;
  /** TTL / hop limit it arrived with; null = not known (user mode). */
  ttl: number | null;
  /** TOS / traffic class byte it arrived with; null = not known. */
  tclass: number | null;
}

/** The kernel's transmit time of the datagram sent with `tag`. */
export interface TxStamp {
  tag: number;
  ns: RealtimeNs;
}

/**
 * Something went wrong on the socket. `send`: that datagram did not leave (tag says which); `icmp`: an
 * ICMP error about our traffic (offender = who sent it); `receive`: an error reported on receive.
 * `code` is the errno name: ENETUNREACH, EHOSTUNREACH, ENETDOWN, ECONNREFUSED, …
 */
export interface SocketFault {
  kind: "send" | "icmp" | "receive";
  code: string;
  tag?: number;
  offender?: string;
}

export interface Drained {
  datagrams: ReceivedDatagram[];
  tx: TxStamp[];
  faults: SocketFault[];
  /** Datagrams the kernel dropped for a full receive queue since the last drain (SO_RXQ_OVFL). */
  kernelDrops: number;
}

export interface TimestampedUdpSocket {
  readonly timestamps: TimestampSource;
  /** Kernel TX stamps are expected for sent datagrams (a driver may still not give them). */
  readonly txStamps: boolean;
  readonly family: 4 | 6;
  /**
   * Send one datagram. `stamp(t1)` is called with the send time (clock_gettime or the user clock)
   * just before the datagram is handed to the kernel, to write T1 into it. A failure to send arrives
   * as a `send` fault with this `tag` on a later drain. Returns how long the send call took, ms (clock
   * read before it to clock read after it; kernel socket only, else undefined): where no TX stamp
   * comes back, the most the kernel can have sent the datagram after T1.
   */
  send(data: Buffer, tag: number, stamp: (t1: RealtimeNs) => void): number | undefined;
  /** Everything that arrived since the last drain. Never blocks. */
  drain(): Drained;
  /** Call `cb` (on the main loop) whenever something may be ready to drain. */
  onReadable(cb: () => void): void;
  close(): void;
}

export interface OpenUdpOptions {
  remote: { address: string; port: number; family: 4 | 6 };
  /** DSCP 0..63. */
  dscp: number;
  /** Outgoing TTL / hop limit; default the system's. */
  ttl?: number;
  /** The user-mode clock (injected; kernel mode uses CLOCK_REALTIME). */
  clock: Clock;
}

/**
 * QOSPROBE_TIMESTAMPS=user forces the fallback, here and for every other use of the FFI
 * (net/libc.ts: the one switch; CI runs the STAMP tests both ways).
 */
export function timestampPreference(env: NodeJS.ProcessEnv = process.env): TimestampSource {
  return ffiDisabled(env) ? "user" : "kernel";
}

/** Which socket `openTimestampedUdp` will give on this host now. */
export async function timestampMode(): Promise<TimestampSource> {
  return libc() ? "kernel" : "user";
}

/** The kernel socket where the FFI loads (and the switch allows), else the dgram fallback. */
export async function openTimestampedUdp(o: OpenUdpOptions): Promise<TimestampedUdpSocket> {
  const c = libc();
  if (c) return KernelUdpSocket.open(c, o);
  return DgramUdpSocket.open(o);
}
