import { PROFILE_THRESHOLDS } from "./compliance/thresholds.js";
import type { IntervalVerdictValue, ResultMessage } from "./publish/message.js";

/**
 * Human-readable rendering of one result for a terminal: what a network engineer reads at a glance.
 * Numbers keep the units in the row label; null means "not measured" and prints as "–".
 */
export function formatResult(r: ResultMessage, opts: { color?: boolean } = {}): string {
  const c = colors(opts.color ?? false);
  const p = r.packets;
  const lossPct = r.loss_ratio === null ? "–" : `${(r.loss_ratio * 100).toFixed(2)} %`;
  const dv = r.delay_variation_ms;
  const rtt = r.rtt_ms;
  const lines = [
    c.bold(`${r.test.target}`) +
      `  ${r.test.method.toUpperCase()}  ${r.test.packet_size_bytes} B  ${r.test.rate_pps} pps  DSCP ${r.test.dscp}` +
      (r.test.distance_km !== undefined ? `  ${r.test.distance_km} km` : "") +
      (r.test.address ? `  → ${r.test.address} (IPv${r.test.family ?? "?"})` : ""),
    `${label("interval")}${r.interval.start} → ${r.interval.end}`,
    `${label("packets")}sent ${p.sent}  received ${p.received}  lost ${p.lost} (${lossPct})  ` +
      `dup ${p.duplicates}  reordered ${p.reordered}  late ${p.late}`,
    `${label("rtt ms")}min ${n(rtt.min)}  mean ${n(rtt.mean)}  median ${n(rtt.median)}  p95 ${n(rtt.p95)}  ` +
      `p99 ${n(rtt.p99)}  max ${n(rtt.max)}  stddev ${n(rtt.stddev)}`,
    `${label("delay var ms")}max−min ${n(dv.max_minus_min)} (${dv.basis})  IPDV mean|Δ| ${n(dv.ipdv_mean_abs)}  ` +
      `PDV p99 ${n(dv.pdv_p99)}  RFC 3550 jitter ${n(dv.jitter_rfc3550)}`,
    `${label("one-way ms")}` +
      (r.one_way_ms
        ? `forward mean ${n(r.one_way_ms.forward.mean)} (max−min ${n(r.one_way_ms.forward.max_minus_min)})  ` +
          `reverse mean ${n(r.one_way_ms.reverse.mean)} (max−min ${n(r.one_way_ms.reverse.max_minus_min)})`
        : `not reported (${r.quality.clock.one_way_withheld ?? "needs synchronised clocks at both ends"})`),
    `${label("sender")}schedule error p50 ${n(r.quality.send_error_ms.p50)} ms  p99 ${n(r.quality.send_error_ms.p99)} ms  ` +
      // "unknown" source: nothing could tell (no adjtimex, no timedatectl), which is not "not synchronised".
      (r.quality.clock.source === "unknown"
        ? "clock sync unknown (no adjtimex or timedatectl here)"
        : `clock ${r.quality.clock.synced ? "synchronised" : "NOT synchronised"} (${r.quality.clock.source}` +
          (r.quality.clock.error_bound_ms !== undefined ? `, ±${n(r.quality.clock.error_bound_ms)} ms` : "") +
          ")") +
      (r.quality.timestamps ? `  timestamps ${r.quality.timestamps}` : "") +
      (r.quality.timing_error_ms ? `  timing error ≤ ${n(r.quality.timing_error_ms.bound)} ms` : ""),
    ...(r.quality.follow_up
      ? [`${label("reflector T3")}${followUpLine(r.quality.follow_up, r.packets.received)}`]
      : []),
    `${label("verdict")}${verdictLine(r, c)}`,
  ];
  if (r.quality.flags.length > 0) lines.push(`${label("flags")}${r.quality.flags.join(", ")}`);
  if (r.test.method === "stamp" && p.sent > 0 && p.received === 0 && !r.error) {
    // A reflector answers nothing it refuses (ours, in authenticated mode, discards a packet whose HMAC
    // fails, and what --allow or its rate limit refuses), so from here a key or mode mismatch looks
    // exactly like a dead path: say where to look.
    lines.push(
      `${label("no reply")}a reflector drops silently what it will not answer: a key or auth mode that ` +
        "differs from yours, --allow, its rate limit; its counters (dropped_auth, dropped_not_allowed, " +
        "dropped_rate_limited) say which",
    );
  }
  if (r.outage) lines.push(`${label("outage")}${r.outage.packets} packets found no path: ${r.outage.reason}`);
  if (r.error) lines.push(`${label("error")}${c.red(`${r.error.code}: ${r.error.message}`)}`);
  return lines.join("\n");
}

function verdictLine(r: ResultMessage, c: Colors): string {
  const t = PROFILE_THRESHOLDS[r.verdicts.profile];
  const mark = (v: IntervalVerdictValue) =>
    v === "pass"
      ? c.green("✔ pass")
      : v === "fail"
        ? c.red("✘ FAIL")
        : v === "not-judged"
          ? c.yellow("– not judged")
          : c.yellow("◔ insufficient data");
  const delayName =
    r.verdicts.delay_basis === "round-trip" ? "RTT" : `one-way delay (${r.verdicts.delay_basis})`;
  return (
    `${r.verdicts.profile}: ${delayName} ${mark(r.verdicts.rtt)} (≤ ${t.delay_ms} ms)  ` +
    `DV ${mark(r.verdicts.delay_variation)} (≤ ${t.delay_variation_ms} ms)  ` +
    `loss ${mark(r.verdicts.loss)} (≤ ${t.loss_ratio * 100} %)` +
    (r.test.diagnostic ? "  [diagnostic: not a compliance pair]" : "") +
    (r.verdicts.not_judged ? `  [not judged: ${r.verdicts.not_judged.join(", ")}]` : "")
  );
}

/**
 * How many replies' T3 the reflector confirmed (RFC 8972 §4.7): the rest are as the reflector wrote
 * them, and their possible error is in the timing-error bound. Says only what the counts show: with no
 * reply nothing was confirmed or refused; a single reply's follow-up could only ride on a later reply
 * (the trailer goes only to a reflector that confirmed something); TLVs that failed their HMAC came
 * from a reflector that does send Follow-Up Telemetry.
 */
function followUpLine(f: NonNullable<ResultMessage["quality"]["follow_up"]>, received: number): string {
  if (received === 0) return "no replies: no transmit time to confirm";
  const why =
    f.confirmed > 0 || f.hmac_failed
      ? ""
      : received === 1
        ? " — a single reply: its follow-up could only ride on a later one"
        : " — the reflector sends no Follow-Up Telemetry";
  const asked =
    f.requested === 0
      ? "follow-up not requested (no room for the TLV at this packet size)"
      : `confirmed by follow-up ${f.confirmed} of ${received} replies` +
        (f.requested < received ? ` (${f.requested} asked)` : "") +
        why;
  return asked + (f.hmac_failed ? `  TLV HMAC failed ${f.hmac_failed} (ignored)` : "");
}

function label(text: string): string {
  return text.padEnd(14);
}

function n(x: number | null): string {
  if (x === null) return "–";
  if (x === 0) return "0";
  return Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3);
}

type Colors = Record<"bold" | "red" | "green" | "yellow", (s: string) => string>;

function colors(on: boolean): Colors {
  const wrap = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap(1), red: wrap(31), green: wrap(32), yellow: wrap(33) };
}
