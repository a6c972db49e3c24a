import { endianness, constants as osConstants } from "node:os";
import type { CFunction, Koffi, Libc } from "./libc.js";

/**
 * The Linux socket calls and layouts behind the kernel-timestamped UDP socket, bound through koffi.
 * Constants from the Linux UAPI headers (asm-generic/socket.h, linux/in.h, linux/in6.h,
 * linux/net_tstamp.h, linux/errqueue.h); they are checked against the kernel in
 * test/integration/net/. Struct layouts are derived from koffi's sizes of the native types, so the same
 * code serves 64-bit (x64, arm64) and 32-bit (armhf) userlands (../../shared/notes/kernel-timestamps.md).
 */
export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_RCVBUF: 8,
  SO_RXQ_OVFL: 40,
  SO_TIMESTAMPNS_OLD: 35,
  SO_TIMESTAMPING_OLD: 37,
  /** Kernel ≥ 5.1: always a 64-bit timespec, whatever the userland's `long`. */
  SO_TIMESTAMPNS_NEW: 64,
  SO_TIMESTAMPING_NEW: 65,
  SOF_TIMESTAMPING_TX_SOFTWARE: 1 << 1,
  SOF_TIMESTAMPING_RX_SOFTWARE: 1 << 3,
  SOF_TIMESTAMPING_SOFTWARE: 1 << 4,
  SOF_TIMESTAMPING_OPT_ID: 1 << 7,
  SOF_TIMESTAMPING_OPT_TSONLY: 1 << 11,
  IPPROTO_IP: 0,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_RECVERR: 11,
  IP_RECVTTL: 12,
  IP_RECVTOS: 13,
  IPPROTO_IPV6: 41,
  IPV6_UNICAST_HOPS: 16,
  IPV6_RECVERR: 25,
  IPV6_V6ONLY: 26,
  IPV6_RECVHOPLIMIT: 51,
  IPV6_HOPLIMIT: 52,
  IPV6_RECVTCLASS: 66,
  IPV6_TCLASS: 67,
  MSG_CTRUNC: 0x8,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  MSG_ERRQUEUE: 0x2000,
  SHUT_RD: 0,
  POLLIN: 0x1,
  POLLERR: 0x8,
  CLOCK_REALTIME: 0,
  SO_EE_ORIGIN_LOCAL: 1,
  SO_EE_ORIGIN_ICMP: 2,
  SO_EE_ORIGIN_ICMP6: 3,
  SO_EE_ORIGIN_TIMESTAMPING: 4,
} as const;

export const ERRNO = {
  EINTR: 4,
  EAGAIN: 11,
  ENOMSG: 42,
} as const;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value as number, name]),
);

/** "ECONNREFUSED" for 111, "errno 999" for a number Node does not know. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** A failed system call: `code` is the errno name Node would use (ENETUNREACH, EADDRINUSE, …). */
export class SysError extends Error {
  readonly code: string;
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)}`);
    this.code = errnoName(errno);
  }
}

const LE = endianness() === "LE";

/** The bound calls and the native layouts of one thread. */
export interface Sys {
  libc: Libc;
  koffi: Koffi;
  socket: CFunction;
  bind: CFunction;
  connect: CFunction;
  setsockopt: CFunction;
  getsockopt: CFunction;
  getsockname: CFunction;
  sendto: CFunction;
  recvmsg: CFunction;
  poll: CFunction;
  shutdown: CFunction;
  close: CFunction;
  clockGettime: CFunction;
  inetPton: CFunction;
  inetNtop: CFunction;
  layout: Layout;
}

export interface Layout {
  ptr: number;
  sizeT: number;
  long: number;
  msghdr: {
    size: number;
    name: number;
    namelen: number;
    iov: number;
    iovlen: number;
    control: number;
    controllen: number;
    flags: number;
  };
  iovecSize: number;
  cmsgHdrSize: number;
  /** CMSG_ALIGN(sizeof(struct cmsghdr)): where a control message's data starts. */
  cmsgData: number;
}

let cached: Sys | undefined;

/** Bind the calls once per thread. */
export function bindSys(libc: Libc): Sys {
  if (cached?.libc === libc) return cached;
  const koffi = libc.koffi;
  // Anonymous structs: a named one would clash with another module's binding of the same name.
  const msghdr = koffi.struct({
    msg_name: "void *",
    msg_namelen: "uint32_t",
    msg_iov: "void *",
    msg_iovlen: "size_t",
    msg_control: "void *",
    msg_controllen: "size_t",
    msg_flags: "int",
  });
  const iovec = koffi.struct({ iov_base: "void *", iov_len: "size_t" });
  const cmsghdr = koffi.struct({ cmsg_len: "size_t", cmsg_level: "int", cmsg_type: "int" });
  const sizeT = koffi.sizeof("size_t");
  const off = (k: string) => koffi.offsetof(msghdr, k);
  const layout: Layout = {
    ptr: koffi.sizeof("void *"),
    sizeT,
    long: koffi.sizeof("long"),
    msghdr: {
      size: koffi.sizeof(msghdr),
      name: off("msg_name"),
      namelen: off("msg_namelen"),
      iov: off("msg_iov"),
      iovlen: off("msg_iovlen"),
      control: off("msg_control"),
      controllen: off("msg_controllen"),
      flags: off("msg_flags"),
    },
    iovecSize: koffi.sizeof(iovec),
    cmsgHdrSize: koffi.sizeof(cmsghdr),
    cmsgData: alignTo(koffi.sizeof(cmsghdr), sizeT),
  };
  const f = libc.func;
  cached = {
    libc,
    koffi,
    socket: f("int socket(int domain, int type, int protocol)"),
    bind: f("int bind(int fd, const void *addr, uint32_t len)"),
    connect: f("int connect(int fd, const void *addr, uint32_t len)"),
    setsockopt: f("int setsockopt(int fd, int level, int name, const void *val, uint32_t len)"),
    getsockopt: f("int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)"),
    getsockname: f("int getsockname(int fd, void *addr, _Inout_ uint32_t *len)"),
    sendto: f(
      "intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)",
    ),
    recvmsg: f("intptr_t recvmsg(int fd, void *msg, int flags)"),
    poll: f("int poll(void *fds, unsigned long nfds, int timeout)"),
    shutdown: f("int shutdown(int fd, int how)"),
    close: f("int close(int fd)"),
    clockGettime: f("int clock_gettime(int clk, void *ts)"),
    inetPton: f("int inet_pton(int af, const char *src, void *dst)"),
    inetNtop: f("const char *inet_ntop(int af, const void *src, void *dst, uint32_t size)"),
    layout,
  };
  return cached;
}

export function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function readWord(buf: Buffer, off: number, width: number): number {
  return width === 8 ? Number(buf.readBigUInt64LE(off)) : buf.readUInt32LE(off);
}

export function writeWord(buf: Buffer, off: number, v: number | bigint, width: number): void {
  if (width === 8) buf.writeBigUInt64LE(BigInt(v), off);
  else buf.writeUInt32LE(Number(v), off);
}

/** A socket address as the kernel wants it (sockaddr_in: 16 bytes, sockaddr_in6: 28 bytes). */
export function encodeSockaddr(
  sys: Sys,
  address: string,
  port: number,
): { buf: Buffer; len: number; family: 4 | 6 } {
  const [host = "", scope] = address.split("%");
  const v6 = host.includes(":");
  const buf = Buffer.alloc(28);
  const raw = Buffer.alloc(16);
  if (sys.inetPton(v6 ? C.AF_INET6 : C.AF_INET, host, raw) !== 1) {
    throw new Error(`"${address}" is not an IP address`);
  }
  writeFamily(buf, v6 ? C.AF_INET6 : C.AF_INET);
  buf.writeUInt16BE(port, 2);
  if (!v6) {
    raw.copy(buf, 4, 0, 4);
    return { buf, len: 16, family: 4 };
  }
  raw.copy(buf, 8, 0, 16);
  if (scope !== undefined) {
    const index = /^\d+$/.test(scope)
      ? Number(scope)
      : Number(sys.libc.func("unsigned int if_nametoindex(const char *name)")(scope));
    if (!index) throw new Error(`unknown interface in "${address}"`);
    buf.writeUInt32LE(index, 24);
  }
  return { buf, len: 28, family: 6 };
}

function writeFamily(buf: Buffer, family: number): void {
  if (LE) buf.writeUInt16LE(family, 0);
  else buf.writeUInt16BE(family, 0);
}

function readFamily(buf: Buffer, off: number): number {
  return LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}

const ntopScratch = Buffer.alloc(64);

/** A sockaddr at `buf[off..]` as address text (inet_ntop's form, "::ffff:a.b.c.d" for mapped IPv4) and port. */
export function decodeSockaddr(
  sys: Sys,
  buf: Buffer,
  off: number,
): { address: string; port: number; family: 4 | 6 } | null {
  const family = readFamily(buf, off);
  if (family !== C.AF_INET && family !== C.AF_INET6) return null;
  const src = buf.subarray(family === C.AF_INET ? off + 4 : off + 8);
  ntopScratch.fill(0);
  if (!sys.inetNtop(family, src, ntopScratch, ntopScratch.length)) return null;
  const end = ntopScratch.indexOf(0);
  return {
    address: ntopScratch.toString("latin1", 0, end < 0 ? ntopScratch.length : end),
    port: buf.readUInt16BE(off + 2),
    family: family === C.AF_INET ? 4 : 6,
  };
}

/** Set an int socket option; returns the errno (0 = done) so callers choose between a fallback and an error. */
export function setIntOpt(sys: Sys, fd: number, level: number, name: number, value: number): number {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return sys.setsockopt(fd, level, name, b, 4) === 0 ? 0 : sys.libc.errno();
}

/** Read an int socket option; throws SysError. */
export function getIntOpt(sys: Sys, fd: number, level: number, name: number, what: string): number {
  const b = Buffer.alloc(4);
  check(sys, sys.getsockopt(fd, level, name, b, [4]), `getsockopt(${what})`);
  return b.readInt32LE();
}

/** Throw a SysError unless the call returned ≥ 0. */
export function check(sys: Sys, rc: unknown, call: string): number {
  const n = Number(rc);
  if (n < 0) throw new SysError(call, sys.libc.errno());
  return n;
}

export interface OpenOptions {
  family: 4 | 6;
  /** Local address; default the wildcard of the family. */
  bindAddress?: string;
  bindPort?: number;
  connect?: { address: string; port: number };
  /** DSCP 0..63, written as TOS / traffic class (dscp << 2). */
  dscp?: number;
  /** Outgoing TTL / hop limit (tests). */
  ttl?: number;
  /** SO_TIMESTAMPING with TX software stamps and OPT_ID (a sender); otherwise RX stamps only. */
  txStamps: boolean;
  /** SO_RCVBUF in bytes (the kernel doubles it). */
  rcvbufBytes?: number;
  /** Dual-stack "::" socket; default true, as dgram's udp6. */
  v6Only?: boolean;
}

export interface OpenedFd {
  fd: number;
  family: 4 | 6;
  localPort: number;
  /** The 64-bit timestamp options took (kernel ≥ 5.1); false = the native-`long` fallbacks 35/37. */
  tsNew: boolean;
  /**
   * The receive queue's limit in bytes as the kernel applies it (getsockopt SO_RCVBUF: twice what was
   * asked, capped at 2 × net.core.rmem_max; socket(7)).
   */
  rcvbufBytes: number;
}

/**
 * A non-blocking UDP socket with kernel timestamps, received TTL and TOS, kernel-drop counter and
 * extended errors (ICMP unreachables on the error queue). Throws SysError; closes the fd on failure.
 */
export function openUdpFd(sys: Sys, o: OpenOptions): OpenedFd {
  const v6 = o.family === 6;
  const fd = check(
    sys,
    sys.socket(v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    const must = (level: number, name: number, value: number, what: string) => {
      const e = setIntOpt(sys, fd, level, name, value);
      if (e) throw new SysError(`setsockopt(${what})`, e);
    };
    let tsNew = true;
    if (o.txStamps) {
      const flags =
        C.SOF_TIMESTAMPING_RX_SOFTWARE |
        C.SOF_TIMESTAMPING_SOFTWARE |
        C.SOF_TIMESTAMPING_TX_SOFTWARE |
        C.SOF_TIMESTAMPING_OPT_ID |
        C.SOF_TIMESTAMPING_OPT_TSONLY;
      if (setIntOpt(sys, fd, C.SOL_SOCKET, C.SO_TIMESTAMPING_NEW, flags)) {
        tsNew = false;
        must(C.SOL_SOCKET, C.SO_TIMESTAMPING_OLD, flags, "SO_TIMESTAMPING");
      }
    } else if (setIntOpt(sys, fd, C.SOL_SOCKET, C.SO_TIMESTAMPNS_NEW, 1)) {
      tsNew = false;
      must(C.SOL_SOCKET, C.SO_TIMESTAMPNS_OLD, 1, "SO_TIMESTAMPNS");
    }
    must(C.SOL_SOCKET, C.SO_RXQ_OVFL, 1, "SO_RXQ_OVFL");
    if (o.rcvbufBytes) must(C.SOL_SOCKET, C.SO_RCVBUF, o.rcvbufBytes, "SO_RCVBUF");
    if (v6) {
      must(C.IPPROTO_IPV6, C.IPV6_V6ONLY, o.v6Only ? 1 : 0, "IPV6_V6ONLY");
      must(C.IPPROTO_IPV6, C.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
      must(C.IPPROTO_IPV6, C.IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS");
      must(C.IPPROTO_IPV6, C.IPV6_RECVERR, 1, "IPV6_RECVERR");
      if (o.dscp) must(C.IPPROTO_IPV6, C.IPV6_TCLASS, o.dscp << 2, "IPV6_TCLASS");
      if (o.ttl) must(C.IPPROTO_IPV6, C.IPV6_UNICAST_HOPS, o.ttl, "IPV6_UNICAST_HOPS");
    }
    // IPv4 options; on a dual-stack IPv6 socket they govern its IPv4 traffic, best effort there.
    const v4opts: [number, number, string][] = [
      [C.IP_RECVTTL, 1, "IP_RECVTTL"],
      [C.IP_RECVTOS, 1, "IP_RECVTOS"],
      [C.IP_RECVERR, 1, "IP_RECVERR"],
    ];
    if (o.dscp) v4opts.push([C.IP_TOS, o.dscp << 2, "IP_TOS"]);
    if (o.ttl) v4opts.push([C.IP_TTL, o.ttl, "IP_TTL"]);
    for (const [name, value, what] of v4opts) {
      if (!v6) must(C.IPPROTO_IP, name, value, what);
      else if (!o.v6Only) setIntOpt(sys, fd, C.IPPROTO_IP, name, value);
    }
    const local = encodeSockaddr(sys, o.bindAddress ?? (v6 ? "::" : "0.0.0.0"), o.bindPort ?? 0);
    check(sys, sys.bind(fd, local.buf, local.len), "bind");
    if (o.connect) {
      const peer = encodeSockaddr(sys, o.connect.address, o.connect.port);
      check(sys, sys.connect(fd, peer.buf, peer.len), "connect");
    }
    const name = Buffer.alloc(128);
    const nameLen = [128];
    check(sys, sys.getsockname(fd, name, nameLen), "getsockname");
    const rcvbufBytes = getIntOpt(sys, fd, C.SOL_SOCKET, C.SO_RCVBUF, "SO_RCVBUF");
    return { fd, family: o.family, localPort: name.readUInt16BE(2), tsNew, rcvbufBytes };
  } catch (err) {
    sys.close(fd);
    throw err;
  }
}
