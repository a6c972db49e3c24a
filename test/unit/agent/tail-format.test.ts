import { describe, expect, it } from "vitest";
import { formatResult } from "../../../agent/format.js";
import { buildResult } from "../../../agent/probe/runner.js";
import { formatTailLine } from "../../../agent/tail.js";

const t0 = Date.UTC(2026, 10, 25, 8, 0, 0);
const req: Parameters<typeof buildResult>[0] = {
  test_id: "bj-gz-stamp",
  target: "stamp://198.51.100.7:862",
  spec: {
    method: "stamp",
    host: "198.51.100.7",
    count: 2,
    interval_ms: 1000,
    schedule: "periodic",
    packet_size_bytes: 128,
    dscp: 0,
    loss_timeout_ms: 3000,
  },
  profile: "internet-3.2.2",
  diagnostic: false,
  peer: { site: "gz-01", province: "440000" },
  agent: { site: "bj-01", operator: "op", province: "110000", version: "0.1.0" },
  seq: 7,
};
const samples = [
  { seq: 0, sent_at: t0, rtt_ms: 30, arrival: 0 },
  { seq: 1, sent_at: t0 + 1000, rtt_ms: 250, arrival: 1 },
];
const facts = {
  startedAt: t0,
  endedAt: t0 + 2000,
  clockSync: { synced: true, source: "chrony" },
  aborted: false,
  error: undefined,
};
const result = buildResult(req, samples, facts);

describe("human-readable output", () => {
  it("tail prints one line per result with the verdict", () => {
    // mean (30 + 250) / 2 = 140 ms passes 200; DV 250 − 30 = 220 ms fails 80 → FAIL.
    const line = formatTailLine(
      "qosprobe/v1",
      "qosprobe/v1/op/110000/bj-01/result/bj-gz-stamp",
      Buffer.from(JSON.stringify(result)),
      false,
    );
    expect(line).toBe(
      "2026-11-25T08:00:00.000Z  op/bj-01 → gz-01  bj-gz-stamp (stamp)  seq 7  rtt 140.00 ms  dv 220.00 ms  loss 0.00%  internet-3.2.2 FAIL",
    );
  });

  it("tail says 'not judged' with the flag, not 'insufficient', when a flag kept the verdicts out", () => {
    // Same samples, but a 9 ms event-loop stall in user mode: bound 9 + 0 (no send errors, no
    // residence) = 9 > 10 % of 80 ms → host-timing: RTT and DV not judged, loss judged (pass).
    const flagged = buildResult(req, samples, {
      ...facts,
      eventLoopDelayMs: 9,
    });
    expect(flagged.verdicts.not_judged).toEqual(["host-timing"]);
    const line = formatTailLine(
      "qosprobe/v1",
      "qosprobe/v1/op/110000/bj-01/result/bj-gz-stamp",
      Buffer.from(JSON.stringify(flagged)),
      false,
    );
    expect(line).toMatch(/internet-3\.2\.2 not judged \(host-timing\)$/);
    // Nothing received at all is still "insufficient": there is nothing to judge.
    const empty = buildResult(req, [{ seq: 0, sent_at: t0, rtt_ms: null }], facts);
    expect(
      formatTailLine(
        "qosprobe/v1",
        "qosprobe/v1/op/110000/bj-01/result/x",
        Buffer.from(JSON.stringify(empty)),
        false,
      ),
    ).toMatch(/internet-3\.2\.2 FAIL$/); // 100 % loss fails; delay and DV insufficient
  });

  it("tail prints status changes and says when a payload is not ours", () => {
    const status = {
      schema: "qosprobe.status/1",
      state: "offline",
      reason: "will",
      site: "bj-01",
      operator: "op",
      province: "110000",
    };
    expect(
      formatTailLine(
        "qosprobe/v1",
        "qosprobe/v1/op/110000/bj-01/status",
        Buffer.from(JSON.stringify(status)),
        false,
      ),
    ).toBe("-  op/bj-01  OFFLINE (will)");
    expect(
      formatTailLine("qosprobe/v1", "qosprobe/v1/op/110000/bj-01/result/x", Buffer.from("{}"), false),
    ).toBe("? qosprobe/v1/op/110000/bj-01/result/x: not a valid qosprobe.result/1 message");
  });

  it("the summary names each verdict with its limit", () => {
    const text = formatResult(result);
    expect(text).toContain(
      "verdict       internet-3.2.2: RTT ✔ pass (≤ 200 ms)  DV ✘ FAIL (≤ 80 ms)  loss ✔ pass (≤ 2 %)",
    );
    expect(text).toContain("packets       sent 2  received 2  lost 0 (0.00 %)");
  });

  it("says the clock's sync state is unknown when nothing could tell, not that it is unsynchronised", () => {
    expect(formatResult(result)).toContain("clock synchronised (chrony)");
    const unknown = buildResult(req, samples, { ...facts, clockSync: { synced: false, source: "unknown" } });
    const text = formatResult(unknown);
    expect(text).toContain("clock sync unknown (no adjtimex or timedatectl here)");
    expect(text).not.toContain("NOT synchronised");
    const unsynced = buildResult(req, samples, {
      ...facts,
      clockSync: { synced: false, source: "adjtimex", max_error_ms: 16000 },
    });
    expect(formatResult(unsynced)).toContain("clock NOT synchronised (adjtimex");
  });

  it("says how many replies' T3 the reflector confirmed by follow-up", () => {
    // Samples without the marks: nothing requested (no room for the TLV at this size).
    expect(formatResult(result)).toContain(
      "reflector T3  follow-up not requested (no room for the TLV at this packet size)",
    );
    const asked = samples.map((s, i) => ({
      ...s,
      reflector_ms: 0.02,
      follow_up_requested: true,
      ...(i === 0 ? { t3_follow_up_ms: 0.01 } : {}),
    }));
    expect(formatResult(buildResult(req, asked, facts))).toContain(
      "reflector T3  confirmed by follow-up 1 of 2 replies",
    );
    const none = asked.map(({ t3_follow_up_ms: _x, ...s }) => ({ ...s, tlv_hmac_failed: true }));
    const text = formatResult(buildResult(req, none, facts));
    expect(text).toContain(
      "reflector T3  confirmed by follow-up 0 of 2 replies  TLV HMAC failed 2 (ignored)",
    );
    const plain = asked.map(({ t3_follow_up_ms: _x, ...s }) => s);
    expect(formatResult(buildResult(req, plain, facts))).toContain(
      "reflector T3  confirmed by follow-up 0 of 2 replies — the reflector sends no Follow-Up Telemetry",
    );
  });

  it("claims nothing about the reflector's follow-up when no reply or a single reply came", () => {
    // 100 % loss (a reflector dropping every packet for its key): nothing was asked of a reply.
    const lost = samples.map((s) => ({ seq: s.seq, sent_at: s.sent_at, rtt_ms: null }));
    const none = formatResult(buildResult(req, lost, facts));
    expect(none).toContain("reflector T3  no replies: no transmit time to confirm");
    expect(none).not.toContain("not requested");
    // A silent reflector (its key or mode differs, --allow, its rate limit) looks like a dead path: say where to look.
    expect(none).toContain(
      "no reply      a reflector drops silently what it will not answer: a key or auth mode that differs from yours, --allow, its rate limit; its counters (dropped_auth, dropped_not_allowed, dropped_rate_limited) say which",
    );
    expect(formatResult(result)).not.toContain("no reply ");
    // -c 1 against a reflector that implements the TLV: its one reply has no later reply to ride on.
    const one = [
      { ...samples[0], seq: 0, sent_at: t0, rtt_ms: 30, reflector_ms: 0.02, follow_up_requested: true },
    ];
    const single = formatResult(buildResult({ ...req, spec: { ...req.spec, count: 1 } }, one, facts));
    expect(single).toContain(
      "reflector T3  confirmed by follow-up 0 of 1 replies — a single reply: its follow-up could only ride on a later one",
    );
    expect(single).not.toContain("sends no Follow-Up Telemetry");
  });
});
