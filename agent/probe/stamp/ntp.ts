import type { Clock } from "../../clock.js";

/**
 * NTP 64-bit timestamp (RFC 5905 §6): 32-bit seconds since 1900-01-01 00:00 UTC and a 32-bit binary
 * fraction of a second. Kept as two integers, not as milliseconds, so a timestamp read from the wire
 * is written back bit for bit and differences keep the full 2^-32 s resolution.
 */
export interface NtpTime {
  seconds: number;
  fraction: number;
}

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970): 70 years with 17 leap days. */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;

const TWO_32 = 2 ** 32;

export function ntpFromEpochMs(ms: number): NtpTime {
  const wholeS = Math.floor(ms / 1000);
  const fracMs = ms - wholeS * 1000;
  let fraction = Math.round((fracMs / 1000) * TWO_32);
  let seconds = wholeS + NTP_UNIX_OFFSET_S;
  if (fraction >= TWO_32) {
    fraction -= TWO_32;
    seconds += 1;
  }
  // Era 0 ends in February 2036; the wire field keeps only the low 32 bits (RFC 5905 §6).
  return { seconds: seconds % TWO_32, fraction };
}

/** Exactly, from realtime nanoseconds since 1970 (a kernel timestamp): fraction = ⌊ns · 2^32 / 10^9⌋. */
export function ntpFromNs(ns: bigint): NtpTime {
  const s = ns / 1_000_000_000n;
  const sub = ns - s * 1_000_000_000n;
  return {
    seconds: Number((s + BigInt(NTP_UNIX_OFFSET_S)) % 4_294_967_296n),
    fraction: Number((sub << 32n) / 1_000_000_000n),
  };
}

/**
 * Back to Unix epoch milliseconds. Era by the RFC 4330 §3 rule: with the top bit of the seconds set,
 * the time lies in 1968–2036 (era 0); without it, in 2036–2104 (era 1).
 */
export function ntpToEpochMs(t: NtpTime): number {
  const seconds = t.seconds >= 2 ** 31 ? t.seconds : t.seconds + TWO_32;
  return (seconds - NTP_UNIX_OFFSET_S) * 1000 + (t.fraction / TWO_32) * 1000;
}

/** a − b in milliseconds, modulo the 2^32 s era so a difference across the 2036 rollover stays small. */
export function ntpDiffMs(a: NtpTime, b: NtpTime): number {
  let ds = a.seconds - b.seconds;
  if (ds > 2 ** 31) ds -= TWO_32;
  else if (ds < -(2 ** 31)) ds += TWO_32;
  return ds * 1000 + ((a.fraction - b.fraction) / TWO_32) * 1000;
}

export function readNtp(buf: Buffer, offset: number): NtpTime {
  return { seconds: buf.readUInt32BE(offset), fraction: buf.readUInt32BE(offset + 4) };
}

export function writeNtp(buf: Buffer, offset: number, t: NtpTime): void {
  buf.writeUInt32BE(t.seconds >>> 0, offset);
  buf.writeUInt32BE(t.fraction >>> 0, offset + 4);
}

/**
 * Wall-clock time built from one wall anchor plus monotonic deltas. Two readings from it differ by
 * exactly the monotonic interval between them, so T4 − T1 (or T3 − T2) can never be bent by an NTP
 * step during a measurement, while the values stay on the UTC timescale for one-way delays.
 * `reanchor()` lets a long-lived reflector follow wall-clock steps between packets.
 */
export class AnchoredClock {
  private wallAnchor: number;
  private monoAnchor: number;

  constructor(private readonly clock: Clock) {
    this.wallAnchor = clock.now();
    this.monoAnchor = clock.mono();
  }

  /** Epoch milliseconds for a monotonic reading taken earlier from the same clock. */
  epochMsAt(mono: number): number {
    return this.wallAnchor + (mono - this.monoAnchor);
  }

  nowEpochMs(): number {
    return this.epochMsAt(this.clock.mono());
  }

  reanchor(): void {
    this.wallAnchor = this.clock.now();
    this.monoAnchor = this.clock.mono();
  }
}
