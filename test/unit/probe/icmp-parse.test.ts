import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { summarize } from "../../../agent/metrics/summary.js";
import {
  findClockSteps,
  icmpErrorReason,
  parsePingLine,
  parsePingOutput,
  pingSamples,
} from "../../../agent/probe/icmp-parse.js";

/**
 * Fixtures are real iputils-ping 20221126 outputs, `LANG=C ping -n -D -O -c N -i 0.2 -s S -W W HOST`:
 * normal.txt / ipv6-loopback.txt on 127.0.0.1 / ::1; loss.txt, dup.txt, ipv6.txt, all-lost.txt and
 * unreachable.txt across a veth pair between two network namespaces (198.51.100.1 → .2, 2001:db8::1 → ::2)
 * with nftables in the target namespace dropping echo requests 3 and 4 (loss), `dup to` on replies 2
 * and 4 (dup), dropping every request (all-lost), or pinging an absent neighbour .3 (unreachable);
 * interval-too-short.txt as uid 65534 with -i 0.001; unknown-host.txt for `no-such-host.invalid`.
 * clock-step.txt is built on normal.txt's format (stepping this shared machine's clock is not allowed):
 * 20 replies at 0.2 s, the wall clock stepped back 2 s before icmp_seq 11, so from 11 on the -D stamps
 * are 2 s smaller; RTTs 0.050 ms except seq 5 = 0.080, seq 11 = 0.500, seq 15 = 0.030.
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

describe("wall-clock steps (issue 8)", () => {
  it("clock-step.txt: 20 sent, 20 received, the RTT across the step untrusted", () => {
    const out = parsePingOutput(fixture("clock-step.txt"));
    expect([out.transmitted, out.received]).toEqual([20, 20]);
    const steps = findClockSteps(out);
    expect(steps.stepped).toBe(true);
    // The stamps go back at icmp_seq 11 (reply index 10); highest seq before it is 10, so replies
    // printed after the step with seq ≤ 11 may cross it: only seq 11.
    expect([...steps.untrusted]).toEqual([10]);

    const samples = pingSamples(out, opts);
    expect(samples).toHaveLength(20);
    expect(samples.filter((s) => s.clock_step).map((s) => s.seq)).toEqual([11]);
    expect(samples.some((s) => s.late)).toBe(false);
    const sum = summarize(samples, { sent: 20, clockSynced: true });
    // Received 20 of 20: loss 0. RTT stats over the 19 trusted RTTs: 17 × 0.050 + 0.080 + 0.030 = 0.96;
    // mean 0.96 / 19 = 0.0505263…; min 0.030, max 0.080 → max − min 0.050 (not 0.500 − 0.030 = 0.470).
    expect(sum.packets).toMatchObject({ sent: 20, received: 20, lost: 0, late: 0 });
    expect(sum.loss_ratio).toBe(0);
    expect(sum.rtt_ms.min).toBe(0.03);
    expect(sum.rtt_ms.max).toBe(0.08);
    expect(sum.rtt_ms.mean).toBeCloseTo(0.96 / 19, 12);
    expect(sum.delay_variation_ms.max_minus_min).toBeCloseTo(0.05, 12);
  });

  it("a clean run has no step", () => {
    expect(findClockSteps(parsePingOutput(fixture("normal.txt"))).stepped).toBe(false);
  });

  it("sees a forward step from monotonic read times, and judges late on the monotonic clock", () => {
    // Three replies read at mono 200, 400, 600 ms after a start at mono 0; the wall clock jumped
    // +5 s before the third, whose RTT ping printed as 5000.05 ms (over the 1000 ms loss timeout).
    const text = [
      "[1000.200000] 44 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.050 ms",
      "[1000.400000] 44 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.050 ms",
      "[1005.600000] 44 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=5000.050 ms",
    ].join("\n");
    const out = parsePingOutput(text);
    const lineMonos = [200, 400, 600];
    // Offsets (stamp − read, ms): 1 000 200 − 200 = 1 000 000 and 1 000 400 − 400 = 1 000 000, then
    // 1 005 600 − 600 = 1 005 000: a jump of 5 000 > 100 ms → forward step before seq 3.
    expect(findClockSteps(out, lineMonos)).toEqual({ stepped: true, untrusted: new Set([2]) });
    const samples = pingSamples(out, { ...opts, sent: 3, line_monos: lineMonos, started_mono_ms: 0 });
    // seq 3: scheduled at mono 0 + 2 × 200 = 400, read at 600 → 200 ms old: received, not late.
    expect(samples[2]).toMatchObject({ seq: 3, clock_step: true, arrival: 2 });
    expect(samples[2]?.late).toBeUndefined();
    // Without the monotonic times the wall-clock RTT would have made it late and lost.
    expect(pingSamples(out, { ...opts, sent: 3 })[2]).toMatchObject({ rtt_ms: null, late: true });
  });

  it("a late read of the first lines is not a forward step; the same jump in ping's schedule is", () => {
    // ping at 200 ms intervals, stamps on schedule (1000.2, 1000.4, 1000.6 s); our event loop stalled,
    // so lines 1 and 2 were read together at mono 550, line 3 promptly at 600. Offsets: 1 000 200 − 550
    // = 999 650, 1 000 400 − 550 = 999 850, 1 000 600 − 600 = 1 000 000: up 150 > 100 over the
    // maximum. But stamp − seq × 200 is 999 800 for all three: ping kept its schedule → no step.
    const text = [
      "[1000.200000] 44 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.050 ms",
      "[1000.400000] 44 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.050 ms",
      "[1000.600000] 44 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.050 ms",
    ].join("\n");
    const out = parsePingOutput(text);
    expect(findClockSteps(out, [550, 550, 600]).stepped).toBe(true); // offsets alone: fooled
    expect(findClockSteps(out, [550, 550, 600], 200)).toEqual({ stepped: false, untrusted: new Set() });
    const samples = pingSamples(out, { ...opts, sent: 3, line_monos: [550, 550, 600], started_mono_ms: 0 });
    expect(samples.map((x) => x.rtt_ms)).toEqual([0.05, 0.05, 0.05]);
    expect(samples.some((x) => x.clock_step)).toBe(false);
    // The +5 s step of the test above moves both: stamp − seq × 200 goes 999 800 → 1 004 000.
    const stepped = parsePingOutput(text.replace("[1000.600000]", "[1005.600000]"));
    expect(findClockSteps(stepped, [200, 400, 600], 200)).toEqual({ stepped: true, untrusted: new Set([2]) });
  });

  it("takes iputils' 'time of day goes back' warning as a step for the replies printed as 0 ms", () => {
    const text = [
      "[1000.200000] 44 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.050 ms",
      "[1000.400000] 44 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.000 ms",
      "ping: Warning: time of day goes back (-49873us), taking countermeasures",
    ].join("\n");
    expect(findClockSteps(parsePingOutput(text))).toEqual({ stepped: true, untrusted: new Set([1]) });
  });
});

describe("send-time outages (issue 9)", () => {
  it("gives ICMP-unreachable packets their reason", () => {
    expect(icmpErrorReason("Destination Host Unreachable")).toBe("host unreachable");
    expect(icmpErrorReason("Destination Net Unreachable")).toBe("network unreachable");
    const samples = pingSamples(parsePingOutput(fixture("unreachable.txt")), opts);
    // 12 packets answered by "Destination Host Unreachable" from .1; 8 more never answered.
    expect(samples.filter((s) => s.loss_reason === "host unreachable").map((s) => s.seq)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
    const sum = summarize(samples, { sent: 20, clockSynced: false });
    expect(sum.packets).toMatchObject({ sent: 20, lost: 20, loss_reasons: { "host unreachable": 12 } });
  });

  it("gives route-check reasons to packets ping sent into no route", () => {
    const out = parsePingOutput(fixture("loss.txt"));
    const samples = pingSamples(out, { ...opts, send_reasons: new Map([[3, "network unreachable"]]) });
    expect(samples.find((s) => s.seq === 3)?.loss_reason).toBe("network unreachable");
    expect(samples.find((s) => s.seq === 4)?.loss_reason).toBeUndefined();
  });
});
