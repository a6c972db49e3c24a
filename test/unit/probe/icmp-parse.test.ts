import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePingLine, parsePingOutput, pingSamples } from "../../../agent/probe/icmp-parse.js";

/**
 * Fixtures are real iputils-ping 20221126 outputs, `LANG=C ping -n -D -O -c N -i 0.2 -s S -W W HOST`:
 * normal.txt / ipv6-loopback.txt on 127.0.0.1 / ::1; loss.txt, dup.txt, ipv6.txt, all-lost.txt and
 * unreachable.txt across a veth pair between two network namespaces (198.51.100.1 → .2, 2001:db8::1 → ::2)
 * with nftables in the target namespace dropping echo requests 3 and 4 (loss), `dup to` on replies 2
 * and 4 (dup), dropping every request (all-lost), or pinging an absent neighbour .3 (unreachable);
 * interval-too-short.txt as uid 65534 with -i 0.001; unknown-host.txt for `no-such-host.invalid`.
 */
function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/ping/${name}`, import.meta.url), "utf8");
}

const opts = { interval_ms: 200, loss_timeout_ms: 1000, started_at_ms: 1_000_000 };

describe("parsePingOutput", () => {
  it("reads every reply of a clean run with its sequence number, RTT and arrival stamp", () => {
    const out = parsePingOutput(fixture("normal.txt"));
    expect(out.address).toBe("127.0.0.1");
    expect(out.payload_bytes).toBe(36);
    expect(out.transmitted).toBe(5);
    expect(out.received).toBe(5);
    expect(out.failure).toBeNull();
    expect(out.replies.map((r) => [r.seq, r.rtt_ms])).toEqual([
      [1, 0.031],
      [2, 0.052],
      [3, 0.061],
      [4, 0.063],
      [5, 0.058],
    ]);
    // "[1795623404.516136]" → 1795623404516.136 ms
    expect(out.replies[0]?.at_ms).toBeCloseTo(1795623404516.136, 3);
    expect(out.replies[0]).toMatchObject({ from: "127.0.0.1", bytes: 44, ttl: 64, dup: false });
  });

  it("reads IPv6 addresses that contain colons", () => {
    const out = parsePingOutput(fixture("ipv6.txt"));
    expect(out.address).toBe("2001:db8::2");
    expect(out.payload_bytes).toBe(16);
    expect(out.replies.map((r) => r.from)).toEqual([
      "2001:db8::2",
      "2001:db8::2",
      "2001:db8::2",
      "2001:db8::2",
    ]);
    expect(out.replies.map((r) => r.rtt_ms)).toEqual([0.024, 0.062, 0.066, 0.066]);
    const loop = parsePingOutput(fixture("ipv6-loopback.txt"));
    expect(loop.address).toBe("::1");
    expect(loop.replies.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(loop.replies[4]).toMatchObject({ from: "::1", rtt_ms: 0.067, bytes: 24 });
  });

  it("sees -O's 'no answer yet' lines and ICMP errors as what they are, not replies", () => {
    const loss = parsePingOutput(fixture("loss.txt"));
    expect(loss.no_answer.map((n) => n.seq)).toEqual([3, 4]);
    expect(loss.replies.map((r) => r.seq)).toEqual([1, 2, 5, 6]);
    expect([loss.transmitted, loss.received]).toEqual([6, 4]);

    const unreachable = parsePingOutput(fixture("unreachable.txt"));
    expect(unreachable.replies).toEqual([]);
    // Seq 1..12 each got "Destination Host Unreachable" from our own address once ARP gave up.
    expect(unreachable.icmp_errors.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(unreachable.icmp_errors[0]).toMatchObject({
      from: "198.51.100.1",
      message: "Destination Host Unreachable",
    });
    expect([unreachable.transmitted, unreachable.received]).toEqual([20, 0]);
  });

  it("reports ping's own diagnostics as a failure", () => {
    expect(parsePingOutput(fixture("unknown-host.txt")).failure).toBe(
      "no-such-host.invalid: Name or service not known",
    );
    const fast = parsePingOutput(fixture("interval-too-short.txt"));
    expect(fast.failure).toBe("cannot flood; minimal interval allowed for user is 2ms");
    expect(fast.transmitted).toBeNull();
  });

  it("ignores the rtt summary and blank lines", () => {
    expect(parsePingLine("rtt min/avg/max/mdev = 0.031/0.053/0.063/0.011 ms")).toBeNull();
    expect(parsePingLine("")).toBeNull();
  });
});

describe("pingSamples", () => {
  it("gives one sample per packet with send time = arrival − RTT and arrival order", () => {
    const samples = pingSamples(parsePingOutput(fixture("normal.txt")), opts);
    expect(samples.map((s) => [s.seq, s.rtt_ms, s.arrival])).toEqual([
      [1, 0.031, 0],
      [2, 0.052, 1],
      [3, 0.061, 2],
      [4, 0.063, 3],
      [5, 0.058, 4],
    ]);
    // seq 1: 1795623404516.136 − 0.031 = 1795623404516.105
    expect(samples[0]?.sent_at).toBeCloseTo(1795623404516.105, 3);
  });

  it("turns missing sequence numbers into lost samples, sent on the interval after the first reply", () => {
    const samples = pingSamples(parsePingOutput(fixture("loss.txt")), opts);
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [1, 0.018],
      [2, 0.061],
      [3, null],
      [4, null],
      [5, 0.062],
      [6, 0.061],
    ]);
    // seq 1 sent at 1795623371055.353 − 0.018 = 1795623371055.335; seq 3 = that + 2 × 200
    expect(samples[2]?.sent_at).toBeCloseTo(1795623371455.335, 3);
    expect(samples[2]?.arrival).toBeUndefined();
    // Arrival indexes count replies only: seq 5 was the third reply to arrive.
    expect(samples[4]?.arrival).toBe(2);
  });

  it("adds each DUP! reply as an extra dup sample after the packets", () => {
    const samples = pingSamples(parsePingOutput(fixture("dup.txt")), opts);
    expect(samples.filter((s) => !s.dup).map((s) => s.seq)).toEqual([1, 2, 3, 4, 5]);
    // Arrival order: 1, 2, 2(DUP), 3, 4, 4(DUP), 5 → dups arrived 3rd and 6th.
    expect(samples.filter((s) => s.dup).map((s) => [s.seq, s.rtt_ms, s.arrival])).toEqual([
      [2, 0.068, 2],
      [4, 0.069, 5],
    ]);
    expect(samples.find((s) => s.seq === 5 && !s.dup)?.arrival).toBe(6);
  });

  it("anchors an all-lost run at ping's start time", () => {
    const samples = pingSamples(parsePingOutput(fixture("all-lost.txt")), opts);
    // 4 transmitted, none answered: sent_at = 1_000_000 + (seq − 1) × 200
    expect(samples).toEqual([
      { seq: 1, sent_at: 1_000_000, rtt_ms: null },
      { seq: 2, sent_at: 1_000_200, rtt_ms: null },
      { seq: 3, sent_at: 1_000_400, rtt_ms: null },
      { seq: 4, sent_at: 1_000_600, rtt_ms: null },
    ]);
    const unreachable = pingSamples(parsePingOutput(fixture("unreachable.txt")), opts);
    expect(unreachable.length).toBe(20);
    expect(unreachable.every((s) => s.rtt_ms === null)).toBe(true);
  });

  it("counts a reply slower than the loss timeout as lost and late", () => {
    // normal.txt RTTs 0.031, 0.052, 0.061, 0.063, 0.058 against a 0.055 ms timeout: 3 late.
    const samples = pingSamples(parsePingOutput(fixture("normal.txt")), { ...opts, loss_timeout_ms: 0.055 });
    expect(samples.map((s) => [s.rtt_ms, s.late ?? false])).toEqual([
      [0.031, false],
      [0.052, false],
      [null, true],
      [null, true],
      [null, true],
    ]);
  });

  it("uses the caller's sent count when ping died before its statistics", () => {
    const text = fixture("normal.txt").split("\n").slice(0, 3).join("\n");
    const samples = pingSamples(parsePingOutput(text), { ...opts, sent: 3 });
    // Replies 1 and 2 printed, 3 sent but never answered before the kill.
    expect(samples.map((s) => [s.seq, s.rtt_ms])).toEqual([
      [1, 0.031],
      [2, 0.052],
      [3, null],
    ]);
  });
});
