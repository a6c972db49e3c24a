import { alignTo, C, readWord, type Sys, writeWord } from "./sys.js";

/** What a receive found besides the payload. Reused between calls on the hot path (no allocation). */
export interface RecvInfo {
  /** Bytes received (0 after shutdown), or −errno. */
  n: number;
  flags: number;
  /** Kernel software timestamp: RX for the normal queue, TX for the error queue; sec = −1 if absent. */
  tsSec: number;
  tsNsec: number;
  /** Received TTL / hop limit; −1 if absent. */
  ttl: number;
  /** Received TOS / traffic class; −1 if absent. */
  tclass: number;
  /** SO_RXQ_OVFL: the socket's running count of datagrams the kernel dropped; −1 if absent. */
  dropCounter: number;
  /** sock_extended_err of an error-queue message; eeErrno −1 if absent. */
  eeErrno: number;
  eeOrigin: number;
  eeType: number;
  eeCode: number;
  eeData: number;
  /** Offset of the SO_EE_OFFENDER sockaddr in `mem`, −1 if none. */
  offenderOff: number;
}

/**
 * A stable native block for recvmsg: msghdr, iovec, a sockaddr area, a control area and a data area,
 * allocated once per thread with koffi.alloc (a pointer passed as a Buffer is valid only during one
 * call) and viewed as one Buffer. The reflector also sends its replies from here (zero copy).
 */
export class RecvCtx {
  readonly ptr: bigint;
  readonly mem: Buffer;
  readonly namePtr: bigint;
  readonly nameOff: number;
  readonly dataPtr: bigint;
  readonly data: Buffer;
  /** A second payload area for building a reply, and a timespec for clock_gettime. */
  readonly txPtr: bigint;
  readonly tx: Buffer;
  readonly tsPtr: bigint;
  readonly tsOff: number;
  readonly info: RecvInfo = {
    n: 0,
    flags: 0,
    tsSec: -1,
    tsNsec: 0,
    ttl: -1,
    tclass: -1,
    dropCounter: -1,
    eeErrno: -1,
    eeOrigin: 0,
    eeType: 0,
    eeCode: 0,
    eeData: 0,
    offenderOff: -1,
  };
  private readonly ctrlOff: number;
  private readonly ctrlSize: number;

  constructor(
    private readonly sys: Sys,
    readonly dataSize = 2048,
    ctrlSize = 512,
  ) {
    const L = sys.layout;
    const iovOff = alignTo(L.msghdr.size, 16);
    this.nameOff = alignTo(iovOff + L.iovecSize, 16);
    this.ctrlOff = this.nameOff + 128; // sockaddr_storage
    this.ctrlSize = ctrlSize;
    this.tsOff = alignTo(this.ctrlOff + ctrlSize, 16);
    const dataOff = alignTo(this.tsOff + 32, 64);
    const txOff = alignTo(dataOff + dataSize, 64);
    const total = txOff + dataSize;
    // Native memory outside the V8 heap: the owner gives it back with free() when its socket closes.
    this.ptr = sys.koffi.alloc("uint8_t", total) as bigint;
    this.mem = Buffer.from(sys.koffi.view(this.ptr, total));
    this.mem.fill(0);
    const P = this.ptr;
    writeWord(this.mem, iovOff, P + BigInt(dataOff), L.ptr);
    writeWord(this.mem, iovOff + L.ptr, dataSize, L.sizeT);
    writeWord(this.mem, L.msghdr.iov, P + BigInt(iovOff), L.ptr);
    writeWord(this.mem, L.msghdr.iovlen, 1, L.sizeT);
    writeWord(this.mem, L.msghdr.name, P + BigInt(this.nameOff), L.ptr);
    writeWord(this.mem, L.msghdr.control, P + BigInt(this.ctrlOff), L.ptr);
    this.namePtr = P + BigInt(this.nameOff);
    this.dataPtr = P + BigInt(dataOff);
    this.data = this.mem.subarray(dataOff, dataOff + dataSize);
    this.txPtr = P + BigInt(txOff);
    this.tx = this.mem.subarray(txOff, txOff + dataSize);
    this.tsPtr = P + BigInt(this.tsOff);
  }

  /** Give the native block back (the block is unusable afterwards). */
  free(): void {
    this.sys.koffi.free(this.ptr);
  }

  /** msg_namelen after the last receive. */
  get nameLen(): number {
    return this.mem.readUInt32LE(this.sys.layout.msghdr.namelen);
  }

  /**
   * One recvmsg into this block; `info` holds what came with it. Returns `info.n`: bytes, 0 after
   * shutdown, or −errno (EAGAIN = nothing queued). Never throws, never allocates on the normal path.
   */
  recv(fd: number, flags: number): number {
    const sys = this.sys;
    const L = sys.layout;
    const m = this.mem;
    const info = this.info;
    m.writeUInt32LE(128, L.msghdr.namelen);
    writeWord(m, L.msghdr.controllen, this.ctrlSize, L.sizeT);
    m.writeInt32LE(0, L.msghdr.flags);
    const rc = Number(sys.recvmsg(fd, this.ptr, flags));
    info.tsSec = -1;
    info.ttl = -1;
    info.tclass = -1;
    info.dropCounter = -1;
    info.eeErrno = -1;
    info.offenderOff = -1;
    if (rc < 0) {
      info.n = -sys.libc.errno();
      return info.n;
    }
    info.n = rc;
    info.flags = m.readInt32LE(L.msghdr.flags);
    const clen = readWord(m, L.msghdr.controllen, L.sizeT);
    let off = 0;
    // CMSG_FIRSTHDR / CMSG_NXTHDR over the control area.
    while (off + L.cmsgHdrSize <= clen) {
      const base = this.ctrlOff + off;
      const len = readWord(m, base, L.sizeT);
      if (len < L.cmsgHdrSize) break;
      const level = m.readInt32LE(base + L.sizeT);
      const type = m.readInt32LE(base + L.sizeT + 4);
      this.parseCmsg(level, type, base + L.cmsgData);
      off += alignTo(len, L.sizeT);
    }
    return rc;
  }

  private parseCmsg(level: number, type: number, d: number): void {
    const m = this.mem;
    const info = this.info;
    if (level === C.SOL_SOCKET) {
      if (type === C.SO_TIMESTAMPNS_NEW || type === C.SO_TIMESTAMPING_NEW) {
        // struct __kernel_timespec (64-bit fields); for TIMESTAMPING ts[0] is the software stamp.
        info.tsSec = m.readUInt32LE(d) + m.readInt32LE(d + 4) * 2 ** 32;
        info.tsNsec = m.readUInt32LE(d + 8);
      } else if (type === C.SO_TIMESTAMPNS_OLD || type === C.SO_TIMESTAMPING_OLD) {
        const w = this.sys.layout.long; // native struct timespec
        info.tsSec = w === 8 ? m.readUInt32LE(d) + m.readInt32LE(d + 4) * 2 ** 32 : m.readInt32LE(d);
        info.tsNsec = m.readUInt32LE(d + w);
      } else if (type === C.SO_RXQ_OVFL) {
        info.dropCounter = m.readUInt32LE(d);
      }
    } else if (level === C.IPPROTO_IP || level === C.IPPROTO_IPV6) {
      if (
        (level === C.IPPROTO_IP && type === C.IP_RECVERR) ||
        (level === C.IPPROTO_IPV6 && type === C.IPV6_RECVERR)
      ) {
        // struct sock_extended_err: u32 errno, u8 origin, u8 type, u8 code, u8 pad, u32 info, u32 data;
        // the offender's sockaddr (SO_EE_OFFENDER) follows it.
        info.eeErrno = m.readUInt32LE(d);
        info.eeOrigin = m[d + 4] ?? 0;
        info.eeType = m[d + 5] ?? 0;
        info.eeCode = m[d + 6] ?? 0;
        info.eeData = m.readUInt32LE(d + 12);
        info.offenderOff = d + 16;
      } else if (level === C.IPPROTO_IP && type === C.IP_TTL) {
        info.ttl = m.readInt32LE(d);
      } else if (level === C.IPPROTO_IP && type === C.IP_TOS) {
        info.tclass = m[d] ?? -1;
      } else if (level === C.IPPROTO_IPV6 && type === C.IPV6_HOPLIMIT) {
        info.ttl = m.readInt32LE(d);
      } else if (level === C.IPPROTO_IPV6 && type === C.IPV6_TCLASS) {
        info.tclass = m.readInt32LE(d);
      }
    }
  }

  /** CLOCK_REALTIME now, into the block's timespec; read it with `tsSec()`/`tsNsec()`. No allocation. */
  clockRealtime(): void {
    this.sys.clockGettime(C.CLOCK_REALTIME, this.tsPtr);
  }

  get clockSec(): number {
    const w = this.sys.layout.long;
    return w === 8
      ? this.mem.readUInt32LE(this.tsOff) + this.mem.readInt32LE(this.tsOff + 4) * 2 ** 32
      : this.mem.readInt32LE(this.tsOff);
  }

  get clockNsec(): number {
    return this.mem.readUInt32LE(this.tsOff + this.sys.layout.long);
  }
}
