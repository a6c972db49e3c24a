import { describe, expect, it } from "vitest";
import { QosProbeError } from "../../../../agent/errors.js";
import {
  checkTlvHmac,
  computeHmac,
  encodeReflectorPacket,
  encodeSenderPacket,
  FOLLOW_UP_MODE_SW_LOCAL,
  FOLLOW_UP_VALUE_BYTES,
  findTlv,
  followUpFits,
  markTlvsIntegrityFailed,
  parseReflectorPacket,
  parseSenderPacket,
  signTlvs,
  stampTransmitTime,
  TLV_FOLLOW_UP_TELEMETRY,
  verifyHmac,
} from "../../../../agent/probe/stamp/packet.js";

const KEY = Buffer.from("stamp-test-key", "ascii");
const WRONG_KEY = Buffer.from("stamp-test-kez", "ascii");

/** Hex with spaces and newlines for readability → bytes. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

function zeros(n: number): string {
  return "00".repeat(n);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof QosProbeError ? err.code : "other";
  }
  return undefined;
}

// T1 = 0xE5A1B2C3 s + 0x40000000/2^32 s (a quarter second); T2 = …C3.8 (half), T3 = …C4.0.
const T1 = { seconds: 0xe5a1b2c3, fraction: 0x40000000 };
const T2 = { seconds: 0xe5a1b2c3, fraction: 0x80000000 };
const T3 = { seconds: 0xe5a1b2c4, fraction: 0 };

// RFC 8762 §4.2.1 + RFC 8972 §3: Seq 0..3 | Timestamp 4..11 | Error Estimate 12..13 | SSID 14..15 | MBZ 16..43
const UNAUTH_SENDER = hex(`
  00000007
  E5A1B2C3 40000000
  8F84
  1234
  ${zeros(28)}`);

// RFC 8762 §4.2.2: Seq 0..3 | MBZ 4..15 | Timestamp 16..23 | EE 24..25 | SSID 26..27 | MBZ 28..95 | HMAC 96..111
// HMAC = first 16 bytes of HMAC-SHA-256("stamp-test-key", octets 0..95), computed with Python's hmac.
const AUTH_SENDER = hex(`
  00000007
  ${zeros(12)}
  E5A1B2C3 40000000
  8F84
  1234
  ${zeros(68)}
  8d5435e07dc7130a376cfd36effc39ae`);

// RFC 8762 §4.3.1: Seq 0..3 | T3 4..11 | EE 12..13 | SSID 14..15 | T2 16..23 | Sender Seq 24..27 |
// Sender Timestamp 28..35 | Sender EE 36..37 | MBZ 38..39 | Sender TTL 40 | MBZ 41..43
const UNAUTH_REFLECTOR = hex(`
  00000007
  E5A1B2C4 00000000
  8F84
  1234
  E5A1B2C3 80000000
  00000007
  E5A1B2C3 40000000
  0F84
  0000
  40
  000000`);

// RFC 8762 §4.3.2: Seq 0..3 | MBZ 4..15 | T3 16..23 | EE 24..25 | SSID 26..27 | MBZ 28..31 | T2 32..39 |
// MBZ 40..47 | Sender Seq 48..51 | MBZ 52..63 | Sender Timestamp 64..71 | Sender EE 72..73 | MBZ 74..79 |
// Sender TTL 80 | MBZ 81..95 | HMAC 96..111 (Python hmac over octets 0..95)
const AUTH_REFLECTOR = hex(`
  00000007
  ${zeros(12)}
  E5A1B2C4 00000000
  8F84
  1234
  ${zeros(4)}
  E5A1B2C3 80000000
  ${zeros(8)}
  00000007
  ${zeros(12)}
  E5A1B2C3 40000000
  0F84
  ${zeros(6)}
  00
  ${zeros(15)}
  8eea00ce19a9fe71217403de8445563b`);

describe("session-sender packet", () => {
  it("encodes the 44-byte unauthenticated layout", () => {
    const buf = encodeSenderPacket(
      { seq: 7, timestamp: T1, errorEstimate: 0x8f84, ssid: 0x1234 },
      { length: 44 },
    );
    expect(buf.toString("hex")).toBe(UNAUTH_SENDER.toString("hex"));
  });

  it("encodes the 112-byte authenticated layout with the HMAC over octets 0..95", () => {
    const buf = encodeSenderPacket(
      { seq: 7, timestamp: T1, errorEstimate: 0x8f84, ssid: 0x1234 },
      { length: 112, authKey: KEY },
    );
    expect(buf.toString("hex")).toBe(AUTH_SENDER.toString("hex"));
  });

  it("pads past the base packet with one RFC 8972 Extra Padding TLV", () => {
    // 52 bytes = 44 base + TLV header (flags 00, type 01, length 0004) + 4 value bytes.
    const buf = encodeSenderPacket(
      { seq: 7, timestamp: T1, errorEstimate: 0x8f84, ssid: 0x1234 },
      { length: 52 },
    );
    expect(buf.toString("hex")).toBe(`${UNAUTH_SENDER.toString("hex")}0001000400000000`);
    // 46 bytes: two octets of room cannot hold a TLV header, so they stay zero.
    const short = encodeSenderPacket(
      { seq: 7, timestamp: T1, errorEstimate: 0x8f84, ssid: 0x1234 },
      { length: 46 },
    );
    expect(short.toString("hex")).toBe(`${UNAUTH_SENDER.toString("hex")}0000`);
  });

  it("never encodes below the base packet", () => {
    const buf = encodeSenderPacket({ seq: 1, timestamp: T1, errorEstimate: 1, ssid: 0 }, { length: 20 });
    expect(buf.length).toBe(44);
  });

  it("parses both hand-built layouts", () => {
    const expected = { seq: 7, timestamp: T1, errorEstimate: 0x8f84, ssid: 0x1234 };
    expect(parseSenderPacket(UNAUTH_SENDER)).toEqual({ ...expected, mode: "unauthenticated", length: 44 });
    expect(parseSenderPacket(AUTH_SENDER, KEY)).toEqual({ ...expected, mode: "authenticated", length: 112 });
  });

  it("parses a 14-byte TWAMP-light packet with the SSID absent", () => {
    const twampLight = hex("00000009 E5A1B2C3 40000000 0001");
    expect(parseSenderPacket(twampLight)).toEqual({
      seq: 9,
      timestamp: T1,
      errorEstimate: 1,
      ssid: null,
      mode: "unauthenticated",
      length: 14,
    });
  });

  it("rejects a 5-byte packet as malformed", () => {
    expect(codeOf(() => parseSenderPacket(hex("0000000100")))).toBe("PACKET_MALFORMED");
  });

  it("accepts the right key and rejects a wrong key, a flipped bit and a short packet", () => {
    expect(verifyHmac(KEY, AUTH_SENDER)).toBe(true);
    expect(codeOf(() => parseSenderPacket(AUTH_SENDER, WRONG_KEY))).toBe("PACKET_AUTH");
    const flipped = Buffer.from(AUTH_SENDER);
    flipped[20] = (flipped[20] ?? 0) ^ 0x01; // one bit of the timestamp
    expect(codeOf(() => parseSenderPacket(flipped, KEY))).toBe("PACKET_AUTH");
    const flippedMac = Buffer.from(AUTH_SENDER);
    flippedMac[111] = (flippedMac[111] ?? 0) ^ 0x80; // one bit of the HMAC itself
    expect(codeOf(() => parseSenderPacket(flippedMac, KEY))).toBe("PACKET_AUTH");
    expect(codeOf(() => parseSenderPacket(UNAUTH_SENDER, KEY))).toBe("PACKET_AUTH");
  });
});

describe("session-reflector packet", () => {
  const fields = {
    seq: 7,
    timestamp: T3,
    errorEstimate: 0x8f84,
    ssid: 0x1234,
    receiveTimestamp: T2,
    senderSeq: 7,
    senderTimestamp: T1,
    senderErrorEstimate: 0x0f84,
  };

  it("encodes the 44-byte unauthenticated layout", () => {
    const buf = encodeReflectorPacket({ ...fields, senderTtl: 0x40 }, { length: 44 });
    expect(buf.toString("hex")).toBe(UNAUTH_REFLECTOR.toString("hex"));
  });

  it("encodes the 112-byte authenticated layout", () => {
    const buf = encodeReflectorPacket({ ...fields, senderTtl: 0 }, { length: 112, authKey: KEY });
    expect(buf.toString("hex")).toBe(AUTH_REFLECTOR.toString("hex"));
  });

  it("parses both hand-built layouts", () => {
    expect(parseReflectorPacket(UNAUTH_REFLECTOR)).toEqual({
      ...fields,
      senderTtl: 0x40,
      mode: "unauthenticated",
      length: 44,
      followUp: null,
      tlvHmacFailed: false,
    });
    expect(parseReflectorPacket(AUTH_REFLECTOR, KEY)).toEqual({
      ...fields,
      senderTtl: 0,
      mode: "authenticated",
      length: 112,
      followUp: null,
      tlvHmacFailed: false,
    });
    expect(codeOf(() => parseReflectorPacket(AUTH_REFLECTOR, WRONG_KEY))).toBe("PACKET_AUTH");
  });

  it("parses a 38-byte TWAMP-light reply: what is present is used, TTL absent is null", () => {
    // RFC 5357 §4.2.1 layout cut after the Sender Error Estimate; this reflector sets T2 = T3.
    const short = hex(`
      00000003 E5A1B2C3 80000000 0001 0000
      E5A1B2C3 80000000 00000003 E5A1B2C3 40000000 0001`);
    expect(short.length).toBe(38);
    expect(parseReflectorPacket(short)).toEqual({
      seq: 3,
      timestamp: T2,
      errorEstimate: 1,
      ssid: 0,
      receiveTimestamp: T2,
      senderSeq: 3,
      senderTimestamp: T1,
      senderErrorEstimate: 1,
      senderTtl: null,
      mode: "unauthenticated",
      length: 38,
      followUp: null,
      tlvHmacFailed: false,
    });
    // 30 bytes: the echoed sender timestamp (28..35) is cut, so it is null.
    expect(parseReflectorPacket(short.subarray(0, 30)).senderTimestamp).toBeNull();
    expect(codeOf(() => parseReflectorPacket(short.subarray(0, 27)))).toBe("PACKET_MALFORMED");
  });

  it("copies the request's padding back and keeps the reply as long as the request", () => {
    const request = Buffer.concat([UNAUTH_SENDER, hex("0001000c 0102030405060708090a0b0c")]);
    const reply = encodeReflectorPacket({ ...fields, senderTtl: 0x40 }, { length: request.length, request });
    expect(reply.length).toBe(60);
    expect(reply.subarray(0, 44).toString("hex")).toBe(UNAUTH_REFLECTOR.toString("hex"));
    expect(reply.subarray(44).toString("hex")).toBe("0001000c0102030405060708090a0b0c");
  });

  it("cuts the base layout for a short TWAMP-light request (41 bytes)", () => {
    const reply = encodeReflectorPacket({ ...fields, senderTtl: 0x40 }, { length: 41 });
    expect(reply.toString("hex")).toBe(UNAUTH_REFLECTOR.subarray(0, 41).toString("hex"));
  });

  it("writes T3 last and re-signs an authenticated reply", () => {
    const reply = encodeReflectorPacket(
      { ...fields, timestamp: T2, senderTtl: 0 },
      { length: 112, authKey: KEY },
    );
    stampTransmitTime(reply, T3, KEY);
    expect(reply.toString("hex")).toBe(AUTH_REFLECTOR.toString("hex"));
    const open = encodeReflectorPacket({ ...fields, timestamp: T2, senderTtl: 0x40 }, { length: 44 });
    stampTransmitTime(open, T3);
    expect(open.toString("hex")).toBe(UNAUTH_REFLECTOR.toString("hex"));
  });

  it("computes a 16-byte truncated HMAC", () => {
    expect(computeHmac(KEY, AUTH_REFLECTOR).toString("hex")).toBe("8eea00ce19a9fe71217403de8445563b");
  });
});

describe("Follow-Up Telemetry TLV (RFC 8972 §4.7)", () => {
  const p = { seq: 5, timestamp: { seconds: 0, fraction: 0 }, errorEstimate: 0, ssid: 0 };

  it("a sender asks with an empty 20-byte TLV after the base, padding after it", () => {
    // 72 bytes: base 44, TLV 44..63 (flags 0, type 7, length 16, value 0), Extra Padding 64..71 (length 4).
    const b = encodeSenderPacket(p, { length: 72, followUp: true });
    expect(b.subarray(44).toString("hex")).toBe(`00070010${"00".repeat(16)}00010004${"00".repeat(4)}`);
    expect(findTlv(b, 44, TLV_FOLLOW_UP_TELEMETRY, FOLLOW_UP_VALUE_BYTES)).toBe(44);
    // Exactly 20 bytes of room: the TLV alone. 21..23 cannot end on a whole TLV: plain padding.
    expect(encodeSenderPacket(p, { length: 64, followUp: true }).subarray(44, 48).toString("hex")).toBe(
      "00070010",
    );
    expect(encodeSenderPacket(p, { length: 66, followUp: true }).subarray(44, 48).toString("hex")).toBe(
      "00010012",
    );
    // The base packet alone: no TLV. Authenticated with room for 28 octets only (the TLV needs its
    // HMAC TLV too, 40): no TLV either.
    expect(encodeSenderPacket(p, { length: 44, followUp: true })).toHaveLength(44);
    const auth = encodeSenderPacket(p, { length: 140, followUp: true, authKey: KEY });
    expect(findTlv(auth, 112, TLV_FOLLOW_UP_TELEMETRY, FOLLOW_UP_VALUE_BYTES)).toBe(-1);
    expect(followUpFits(20)).toBe(true);
    expect(followUpFits(23)).toBe(false);
    expect(followUpFits(20, "authenticated")).toBe(false);
    expect(followUpFits(40, "authenticated")).toBe(true);
    expect(followUpFits(43, "authenticated")).toBe(false);
    expect(followUpFits(44, "authenticated")).toBe(true);
  });

  it("a reply's filled-in TLV parses; empty, flagged or absent ones are null", () => {
    const request = encodeSenderPacket(p, { length: 72, followUp: true });
    const t = { seconds: 3_000_000_000, fraction: 2 ** 31 };
    const reply = encodeReflectorPacket(
      {
        seq: 5,
        timestamp: t,
        errorEstimate: 0,
        ssid: 0,
        receiveTimestamp: t,
        senderSeq: 5,
        senderTimestamp: t,
        senderErrorEstimate: 0,
        senderTtl: 64,
      },
      { length: 72, request },
    );
    expect(parseReflectorPacket(reply).followUp).toBeNull(); // copied back empty: nothing to report
    reply.writeUInt32BE(4, 48); // Sequence Number of the previous reply
    reply.writeUInt32BE(3_000_000_000, 52); // Follow-up Timestamp 3e9 s + 0.25 s
    reply.writeUInt32BE(2 ** 30, 56);
    reply.writeUInt8(FOLLOW_UP_MODE_SW_LOCAL, 60);
    expect(parseReflectorPacket(reply).followUp).toEqual({
      seq: 4,
      timestamp: { seconds: 3_000_000_000, fraction: 2 ** 30 },
      mode: 2,
    });
    reply.writeUInt8(0x80, 44); // U flag: the reflector did not understand the TLV
    expect(parseReflectorPacket(reply).followUp).toBeNull();
    // A TLV whose length overruns the packet ends the walk.
    const bad = Buffer.from(reply);
    bad.writeUInt16BE(200, 46);
    expect(findTlv(bad, 44, TLV_FOLLOW_UP_TELEMETRY, FOLLOW_UP_VALUE_BYTES)).toBe(-1);
  });
});

describe("HMAC TLV (RFC 8972 §4.8): Follow-Up Telemetry in authenticated mode", () => {
  const p = { seq: 5, timestamp: { seconds: 0, fraction: 0 }, errorEstimate: 0, ssid: 0 };
  const t = { seconds: 3_000_000_000, fraction: 2 ** 31 };
  const fields = {
    seq: 9, // a stateful reflector's own Sequence Number: the reply's HMAC TLV must cover it, not ours
    timestamp: t,
    errorEstimate: 0,
    ssid: 0,
    receiveTimestamp: t,
    senderSeq: 5,
    senderTimestamp: t,
    senderErrorEstimate: 0,
    senderTtl: 64,
  };

  it("a sender's request: base, empty follow-up TLV, HMAC TLV over Sequence Number + TLV, padding", () => {
    // 160 bytes: base 0..111 | Follow-Up 112..131 | HMAC TLV 132..151 | Extra Padding 152..159.
    // HMAC TLV value = HMAC-SHA-256("stamp-test-key", 00000005 ‖ 00070010 ‖ 16 × 00)[0..16], by Python's hmac.
    const b = encodeSenderPacket(p, { length: 160, followUp: true, authKey: KEY });
    expect(b.subarray(112).toString("hex")).toBe(
      `00070010${"00".repeat(16)}00080010` + "5e25d7b7453d2345beac570a80d11b4f" + `00010004${"00".repeat(4)}`,
    );
    expect(verifyHmac(KEY, b)).toBe(true); // the base packet's own HMAC (octets 0..95) still holds
    expect(checkTlvHmac(KEY, b, 112)).toBe("ok");
    expect(checkTlvHmac(WRONG_KEY, b, 112)).toBe("failed");
    b.writeUInt8(1, 120); // someone alters the TLV in flight
    expect(checkTlvHmac(KEY, b, 112)).toBe("failed");
    expect(verifyHmac(KEY, b)).toBe(true); // which the base HMAC cannot see
  });

  it("the reply's follow-up is trusted only under its re-signed HMAC TLV", () => {
    const request = encodeSenderPacket(p, { length: 160, followUp: true, authKey: KEY });
    const reply = encodeReflectorPacket(fields, { length: 160, request, authKey: KEY });
    reply.writeUInt32BE(4, 116); // previous reply's Sequence Number
    reply.writeUInt32BE(3_000_000_000, 120); // Follow-up Timestamp 3e9 s + 0.25 s
    reply.writeUInt32BE(2 ** 30, 124);
    reply.writeUInt8(FOLLOW_UP_MODE_SW_LOCAL, 128);
    // Unsigned: the HMAC TLV still carries the request's value (over seq 5 and an empty TLV).
    expect(parseReflectorPacket(reply, KEY)).toMatchObject({ followUp: null, tlvHmacFailed: true });
    expect(signTlvs(KEY, reply, 112)).toBe(true);
    // = HMAC-SHA-256(key, 00000009 ‖ the filled TLV)[0..16], by Python's hmac.
    expect(reply.subarray(136, 152).toString("hex")).toBe("ba382f388565be77cef77f79391827b6");
    expect(parseReflectorPacket(reply, KEY)).toMatchObject({
      followUp: { seq: 4, timestamp: { seconds: 3_000_000_000, fraction: 2 ** 30 }, mode: 2 },
      tlvHmacFailed: false,
    });
    // Tampered follow-up timestamp: the base HMAC still verifies, the TLV does not → ignored, counted.
    const forged = Buffer.from(reply);
    forged.writeUInt32BE(2 ** 29, 124);
    expect(parseReflectorPacket(forged, KEY)).toMatchObject({ followUp: null, tlvHmacFailed: true });
    // A reflector that found our request's TLVs altered sets I on every TLV and fills nothing in.
    const refused = encodeReflectorPacket(fields, { length: 160, request, authKey: KEY });
    markTlvsIntegrityFailed(refused, 112);
    expect([refused[112], refused[132], refused[152]]).toEqual([0x20, 0x20, 0x20]);
    expect(parseReflectorPacket(refused, KEY)).toMatchObject({ followUp: null, tlvHmacFailed: true });
    // Follow-up TLV without any HMAC TLV in authenticated mode: failed, not trusted.
    const bare = Buffer.from(reply);
    bare.writeUInt8(1, 133); // HMAC TLV → Extra Padding
    expect(checkTlvHmac(KEY, bare, 112)).toBe("failed");
    expect(parseReflectorPacket(bare, KEY).followUp).toBeNull();
    // Padding only: nothing to protect.
    const padded = encodeSenderPacket(p, { length: 140, authKey: KEY });
    expect(checkTlvHmac(KEY, padded, 112)).toBe("none");
    expect(
      parseReflectorPacket(encodeReflectorPacket(fields, { length: 140, authKey: KEY }), KEY),
    ).toMatchObject({
      followUp: null,
      tlvHmacFailed: false,
    });
  });
});
