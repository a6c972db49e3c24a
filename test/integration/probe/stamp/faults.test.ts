import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../../agent/clock.js";
import { silentLogger } from "../../../../agent/log.js";
import { loadLibc } from "../../../../agent/net/libc.js";
import { timestampPreference } from "../../../../agent/net/udp.js";
import { probers } from "../../../../agent/probe/index.js";
import type { ProbeSpec } from "../../../../agent/probe/prober.js";
import { type RunRequest, runProbe } from "../../../../agent/probe/runner.js";
import {
  encodeReflectorPacket,
  parseSenderPacket,
  stampTransmitTime,
} from "../../../../agent/probe/stamp/packet.js";
import { Reflector } from "../../../../agent/probe/stamp/reflector.js";
import { answeredUnauthenticated } from "../../../../agent/probe/stamp/sender.js";
import { ResultMessage } from "../../../../agent/publish/message.js";
import { probeSpec, udpPeer, until } from "./harness.js";

/**
 * Issue 9 for STAMP, through the runner as the agent runs it: faults of the measurement are
 * `status: "fault"` with a code and never path loss; every result names the address and family it
 * measured and how it took its timestamps. Runs in both timestamp modes.
 */
const KEY = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
const OTHER_KEY = Buffer.from("fedcba9876543210fedcba9876543210", "hex");
const expectedMode = timestampPreference() === "kernel" && (await loadLibc()) ? "kernel" : "user";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function request(spec: ProbeSpec): RunRequest {
  return {
    test_id: "t",
    target: `stamp://${spec.host}:${spec.port}`,
    spec,
    profile: "internet-3.2.2",
    diagnostic: false,
    agent: { site: "a", operator: "op", province: "110000", version: "test" },
  };
}

async function run(spec: ProbeSpec) {
  const result = await runProbe(probers.stamp, request(spec), {
    clock: systemClock,
    log: silentLogger(),
    clockSync: { synced: false, source: "unknown" },
  });
  expect(ResultMessage.parse(result)).toEqual(result);
  return result;
}

async function reflector(opts: Partial<ConstructorParameters<typeof Reflector>[0]> = {}) {
  const r = new Reflector({
    host: "127.0.0.1",
    port: 0,
    clockSync: { synced: false, source: "unknown" },
    ...opts,
  });
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

describe(`STAMP faults and facts (${expectedMode} timestamps)`, () => {
  it("a good run is ok, says its timestamps, address and family", async () => {
    const r = await reflector();
    const result = await run(probeSpec(r.address().port, { count: 3 }));
    expect(result.status).toBe("ok");
    expect(result.quality.timestamps).toBe(expectedMode);
    expect(result.test).toMatchObject({ address: "127.0.0.1", family: 4 });
    expect(result.packets).toMatchObject({ sent: 3, received: 3, lost: 0 });
  });

  it("ICMP port unreachable from the reflector's address: fault REFLECTOR_UNREACHABLE, not loss", async () => {
    const closed = await udpPeer();
    const port = closed.port;
    await closed.close();
    const result = await run(probeSpec(port, { host: "::1", count: 3, loss_timeout_ms: 200 }));
    expect(result.status).toBe("fault");
    expect(result.error?.code).toBe("REFLECTOR_UNREACHABLE");
    expect(result.error?.message).toMatch(/port unreachable/);
    expect(result.test).toMatchObject({ address: "::1", family: 6 });
    expect(result.packets.sent).toBe(0); // kept out of path loss
    // A fault judges nothing: every verdict "not-judged", naming the flag (compliance/verdict.ts).
    expect(result.verdicts.loss).toBe("not-judged");
    expect(result.verdicts.not_judged).toEqual(["fault"]);
    expect(result.quality.flags).toContain("fault");
  });

  it("a reflector that stops mid-interval: fault, with what it measured kept and each refusal counted once", async () => {
    const r = await reflector();
    // 30 packets at 20 ms; the reflector stops once 5 of them were answered (a count, not a fixed 200 ms:
    // on a loaded host the sender can start after the timer fired, and then nothing is answered).
    const stopping = until(() => r.counters.reflected >= 5, 10_000).then(() => r.stop());
    const result = await run(
      probeSpec(r.address().port, { count: 30, interval_ms: 20, loss_timeout_ms: 200 }),
    );
    await stopping;
    expect(result.status).toBe("fault");
    expect(result.error?.code).toBe("REFLECTOR_UNREACHABLE");
    // Not "sent 0": the packets went out and the answered ones are in the result.
    expect(result.packets.sent).toBe(30);
    expect(result.packets.received).toBeGreaterThan(0);
    expect(result.packets.received).toBeLessThan(30);
    const m = /answered (\d+) packets and refused others with ICMP port unreachable \((\d+)×\)/.exec(
      result.error?.message ?? "",
    );
    expect(m, result.error?.message).not.toBeNull();
    expect(Number(m?.[1])).toBe(result.packets.received);
    // One refusal per packet at most (the kernel socket hears each twice: error queue and next send).
    expect(Number(m?.[2])).toBeGreaterThan(0);
    expect(Number(m?.[2])).toBeLessThanOrEqual(30 - result.packets.received);
    expect(result.verdicts.not_judged).toContain("fault");
  });

  it("replies that all fail the HMAC check: fault STAMP_AUTH", async () => {
    // A reflector configured with another key: well-formed authenticated replies, wrong HMAC.
    const peer = await udpPeer((msg, rinfo, sock) => {
      const req = parseSenderPacket(msg, KEY);
      const fields = {
        seq: req.seq,
        timestamp: req.timestamp,
        errorEstimate: 0,
        ssid: 0,
        receiveTimestamp: req.timestamp,
        senderSeq: req.seq,
        senderTimestamp: req.timestamp,
        senderErrorEstimate: req.errorEstimate,
        senderTtl: 0,
      };
      sock.send(
        encodeReflectorPacket(fields, { length: msg.length, authKey: OTHER_KEY }),
        rinfo.port,
        rinfo.address,
      );
    });
    cleanups.push(peer.close);
    const result = await run(probeSpec(peer.port, { count: 3, auth_key: KEY, loss_timeout_ms: 200 }));
    expect(result.status).toBe("fault");
    expect(result.error?.code).toBe("STAMP_AUTH");
    expect(result.error?.message).toMatch(/3 STAMP replies .* failed the HMAC check and none passed$/);
    expect(result.error?.message).not.toContain("unauthenticated");
  });

  it("an authenticated sender answered in open mode: STAMP_AUTH says the replies came back unauthenticated", async () => {
    // Our own reflector in open mode (the key is read by the sender only), and in mode both with another
    // key (a failed HMAC falls back to open): either way the replies are RFC 8762 §4.3.1 ones.
    for (const opts of [{}, { authMode: "both" as const, authKey: OTHER_KEY }]) {
      const r = await reflector(opts);
      const result = await run(
        probeSpec(r.address().port, {
          count: 3,
          auth_key: KEY,
          loss_timeout_ms: 500,
          packet_size_bytes: 180,
        }),
      );
      expect(result.status, JSON.stringify(opts)).toBe("fault");
      expect(result.error?.code).toBe("STAMP_AUTH");
      expect(result.error?.message).toBe(
        "3 STAMP replies from 127.0.0.1 failed the HMAC check and none passed: they came back unauthenticated (RFC 8762 §4.3.1), the reflector answered them as open-mode packets",
      );
      expect(r.counters.reflected).toBe(3);
    }
  });

  it("answeredUnauthenticated tells an open-mode reply to our packet from an authenticated reply", () => {
    const sent = new Map([[5, 0n]]);
    const t = { seconds: 3_970_000_000, fraction: 7 };
    const fields = {
      seq: 5,
      timestamp: t,
      errorEstimate: 0x8001,
      ssid: 0,
      receiveTimestamp: t,
      senderSeq: 5,
      senderTimestamp: { seconds: 0, fraction: 0 }, // octets 4..11 of an authenticated request: MBZ
      senderErrorEstimate: 0,
      senderTtl: 64,
    };
    expect(answeredUnauthenticated(encodeReflectorPacket(fields, { length: 152 }), sent)).toBe(true);
    // Another sequence number than ours, or a Timestamp we did not send: not an answer to us.
    expect(
      answeredUnauthenticated(encodeReflectorPacket({ ...fields, senderSeq: 6 }, { length: 152 }), sent),
    ).toBe(false);
    expect(
      answeredUnauthenticated(
        encodeReflectorPacket({ ...fields, senderTimestamp: t }, { length: 152 }),
        sent,
      ),
    ).toBe(false);
    // An authenticated reply under another key (what a reflector with a different key sends).
    expect(
      answeredUnauthenticated(
        encodeReflectorPacket({ ...fields, senderTimestamp: t }, { length: 152, authKey: OTHER_KEY }),
        sent,
      ),
    ).toBe(false);
  });

  it("authenticated replies with a follow-up the HMAC TLV does not cover: measured, follow-up ignored and counted", async () => {
    // A reflector with the right key that fills in Follow-Up Telemetry (claiming each previous reply
    // left 5 ms after its T3) but does not re-sign the HMAC TLV: the base packets verify, the TLVs not.
    let previous = -1;
    const peer = await udpPeer((msg, rinfo, sock) => {
      const req = parseSenderPacket(msg, KEY);
      const t = req.timestamp;
      const reply = encodeReflectorPacket(
        {
          seq: req.seq,
          timestamp: t,
          errorEstimate: 0,
          ssid: 0,
          receiveTimestamp: t,
          senderSeq: req.seq,
          senderTimestamp: t,
          senderErrorEstimate: req.errorEstimate,
          senderTtl: 0,
        },
        { length: msg.length, request: msg, authKey: KEY },
      );
      if (previous >= 0) {
        reply.writeUInt32BE(previous, 116);
        reply.writeUInt32BE(t.seconds, 120);
        reply.writeUInt32BE(t.fraction, 124);
        reply.writeUInt8(2, 128);
      }
      previous = req.seq;
      stampTransmitTime(reply, t, KEY);
      sock.send(reply, rinfo.port, rinfo.address);
    });
    cleanups.push(peer.close);
    const result = await run(
      probeSpec(peer.port, { count: 4, interval_ms: 10, auth_key: KEY, packet_size_bytes: 200 }),
    );
    expect(result.status).toBe("ok");
    expect(result.packets.received).toBe(4);
    expect(result.quality.follow_up).toEqual({ requested: 4, confirmed: 0, hmac_failed: 3 });
  });

  it("the follow-up trailer meets a reflector gone after the interval: no fault, no wait for the loss timeout", async () => {
    // A reflector that confirms each previous reply's T3 (follow-up = the T3 it wrote: gap 0) and stops
    // right after answering the interval's last packet. The trailer then meets a closed port: the
    // refusal ends the wait at once (a 60 s loss timeout would outlast the test), and is no fault: every
    // measured packet was answered (refusals are capped at sent − received = 0).
    let previous: { seq: number; t3: { seconds: number; fraction: number } } | undefined;
    const COUNT = 5;
    const peer = await udpPeer((msg, rinfo, sock) => {
      const req = parseSenderPacket(msg);
      const t = req.timestamp;
      const reply = encodeReflectorPacket(
        {
          seq: req.seq,
          timestamp: t,
          errorEstimate: 0,
          ssid: 0,
          receiveTimestamp: t,
          senderSeq: req.seq,
          senderTimestamp: t,
          senderErrorEstimate: req.errorEstimate,
          senderTtl: 0,
        },
        { length: msg.length, request: msg },
      );
      if (previous) {
        reply.writeUInt32BE(previous.seq, 48);
        reply.writeUInt32BE(previous.t3.seconds, 52);
        reply.writeUInt32BE(previous.t3.fraction, 56);
        reply.writeUInt8(2, 60);
      }
      previous = { seq: req.seq, t3: t };
      sock.send(reply, rinfo.port, rinfo.address, () => {
        if (req.seq === COUNT - 1) void peer.close();
      });
    });
    cleanups.push(peer.close);
    const result = await run(
      probeSpec(peer.port, { count: COUNT, interval_ms: 10, loss_timeout_ms: 60_000 }),
    );
    expect(result.status).toBe("ok");
    expect(result.error).toBeUndefined();
    expect(result.packets).toMatchObject({ sent: COUNT, received: COUNT, lost: 0 });
    // Seq 0–3 confirmed by their successors; seq 4's confirmation was the trailer's, which never came.
    expect(result.quality.follow_up).toEqual({ requested: COUNT, confirmed: COUNT - 1 });
  }, 20_000);
});
