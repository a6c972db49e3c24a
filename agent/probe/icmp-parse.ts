import type { Sample } from "./prober.js";

/**
 * Parsers for the output of iputils `ping -n -D -O` under LANG=C. Pure functions over text so they can
 * be tested against captured outputs (test/fixtures/ping/). The `ping` npm package's parser keeps only
 * the RTTs, not which sequence number each belongs to, so losses, duplicates and arrival order would be
 * invisible; hence our own line parser.
 */

/** One echo reply line: `[ts] 44 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.031 ms (DUP!)`. */
export interface PingReply {
  seq: number;
  /** null when the payload was too small (< 16 bytes) for ping to carry its send timestamp. */
  rtt_ms: number | null;
  /** Wall-clock arrival time from `-D`, epoch ms; null without `-D`. */
  at_ms: number | null;
  dup: boolean;
  from: string;
  bytes: number;
  ttl: number | null;
}

/** `-O`: `[ts] no answer yet for icmp_seq=3`, printed when the next packet is sent. May repeat. */
export interface PingNoAnswer {
  seq: number;
  at_ms: number | null;
}

/** An ICMP error about one probe: `From 198.51.100.1 icmp_seq=1 Destination Host Unreachable`. */
export interface PingIcmpError {
  seq: number;
  at_ms: number | null;
  from: string;
  message: string;
}

export interface PingOutput {
  /** From the header: `PING host (address) 36(64) bytes of data.` / `PING ::1(::1) 16 data bytes`. */
  address: string | null;
  payload_bytes: number | null;
  replies: PingReply[];
  no_answer: PingNoAnswer[];
  icmp_errors: PingIcmpError[];
  /** From the statistics footer; null when ping died before printing it. */
  transmitted: number | null;
  received: number | null;
  /** A `ping: …` diagnostic: unknown host, no permission, interval too short, network unreachable. */
  failure: string | null;
  /** Every stamped line about a packet, in output order (replies carry their index in `replies`). */
  timeline: TimelineEntry[];
  /** iputils said "Warning: time of day goes back": an RTT went negative and was printed as 0. */
  time_warning: boolean;
}

export interface TimelineEntry {
  at_ms: number;
  seq: number;
  /** Index in `replies` when the line is a reply. */
  reply?: number;
}

const TIMESTAMP = /^\[(\d+(?:\.\d+)?)\]\s*/;
const HEADER = /^PING \S+\s?\(([^)]+)\) (\d+)(?:\(\d+\))? (?:data )?bytes/;
// The source address ends at ": icmp_seq" (IPv6 addresses contain colons themselves).
const REPLY = /^(\d+) bytes from (.+?): icmp_seq=(\d+)(?: ttl=(\d+))?(?: time=([\d.]+) ms)?(.*)$/;
const NO_ANSWER = /^no answer yet for icmp_seq=(\d+)/;
const ICMP_ERROR = /^From (.+?):? icmp_seq=(\d+) (.+)$/;
const TRANSMITTED = /^(\d+) packets transmitted, (\d+) received/;
const FAILURE = /^ping: (.+)$/;
/** iputils, when a reply's RTT comes out negative (the wall clock went back while it was in flight). */
const TIME_WARNING = /time of day goes back/;

export function parsePingOutput(text: string): PingOutput {
  const out: PingOutput = {
    address: null,
    payload_bytes: null,
    replies: [],
    no_answer: [],
    icmp_errors: [],
    transmitted: null,
    received: null,
    failure: null,
    timeline: [],
    time_warning: false,
  };
  for (const raw of text.split("\n")) {
    if (TIME_WARNING.test(raw)) {
      out.time_warning = true;
      continue;
    }
    const line = parsePingLine(raw);
    if (line === null) continue;
    switch (line.kind) {
      case "header":
        out.address = line.address;
        out.payload_bytes = line.payload_bytes;
        break;
      case "reply":
        if (line.reply.at_ms !== null) {
          out.timeline.push({ at_ms: line.reply.at_ms, seq: line.reply.seq, reply: out.replies.length });
        }
        out.replies.push(line.reply);
        break;
      case "no-answer":
        if (line.no_answer.at_ms !== null)
          out.timeline.push({ at_ms: line.no_answer.at_ms, seq: line.no_answer.seq });
        out.no_answer.push(line.no_answer);
        break;
      case "icmp-error":
        if (line.error.at_ms !== null) out.timeline.push({ at_ms: line.error.at_ms, seq: line.error.seq });
        out.icmp_errors.push(line.error);
        break;
      case "statistics":
        out.transmitted = line.transmitted;
        out.received = line.received;
        break;
      case "failure":
        // Keep the first diagnostic: later ones are usually consequences of it.
        out.failure ??= line.message;
        break;
    }
  }
  return out;
}

export type PingLine =
  | { kind: "header"; address: string; payload_bytes: number }
  | { kind: "reply"; reply: PingReply }
  | { kind: "no-answer"; no_answer: PingNoAnswer }
  | { kind: "icmp-error"; error: PingIcmpError }
  | { kind: "statistics"; transmitted: number; received: number }
  | { kind: "failure"; message: string };

/** Classify one output line; null for lines that carry nothing we use (blank, rtt summary). */
export function parsePingLine(raw: string): PingLine | null {
  let line = raw.trim();
  let at_ms: number | null = null;
  const ts = TIMESTAMP.exec(line);
  if (ts) {
    at_ms = Number(ts[1]) * 1000;
    line = line.slice(ts[0].length);
  }
  const reply = REPLY.exec(line);
  if (reply) {
    return {
      kind: "reply",
      reply: {
        seq: Number(reply[3]),
        rtt_ms: reply[5] === undefined ? null : Number(reply[5]),
        at_ms,
        dup: (reply[6] ?? "").includes("(DUP!)"),
        from: reply[2] ?? "",
        bytes: Number(reply[1]),
        ttl: reply[4] === undefined ? null : Number(reply[4]),
      },
    };
  }
  const noAnswer = NO_ANSWER.exec(line);
  if (noAnswer) return { kind: "no-answer", no_answer: { seq: Number(noAnswer[1]), at_ms } };
  const icmpError = ICMP_ERROR.exec(line);
  if (icmpError) {
    return {
      kind: "icmp-error",
      error: { seq: Number(icmpError[2]), at_ms, from: icmpError[1] ?? "", message: icmpError[3] ?? "" },
    };
  }
  const header = HEADER.exec(line);
  if (header) return { kind: "header", address: header[1] ?? "", payload_bytes: Number(header[2]) };
  const stats = TRANSMITTED.exec(line);
  if (stats) return { kind: "statistics", transmitted: Number(stats[1]), received: Number(stats[2]) };
  const failure = FAILURE.exec(line);
  if (failure) return { kind: "failure", message: failure[1] ?? "" };
  return null;
}

export interface PingSampleOptions {
  interval_ms: number;
  loss_timeout_ms: number;
  /** Packets sent; defaults to the footer's count, else the highest sequence number seen. */
  sent?: number;
  /** Wall-clock time ping was started, epoch ms: anchors send times when no reply says otherwise. */
  started_at_ms: number;
  /**
   * Monotonic time each `timeline` entry's line was read, ms (same order); with `started_mono_ms`, lets
   * forward steps be seen and a reply across a step be judged late or not on the monotonic clock.
   */
  line_monos?: readonly number[];
  started_mono_ms?: number;
  /** Reasons seen at send time for packets that got no reply (route checks), by icmp_seq. */
  send_reasons?: ReadonlyMap<number, string>;
}

/** A wall-clock offset jump above this between lines is a forward step (NTP steps are ≥ 128 ms). */
export const FORWARD_STEP_MS = 100;

export interface ClockSteps {
  stepped: boolean;
  /** Indexes into `replies` whose RTT may cross a step. */
  untrusted: Set<number>;
}

/**
 * Wall-clock steps seen in ping's output (issue 8). Backward: a `-D` stamp smaller than the one before
 * it, or iputils' "time of day goes back" warning (it then prints the RTT as 0). Forward, only with the
 * monotonic read times of the lines: the stamp minus the read time jumps up by more than 100 ms over
 * its running maximum (reading a line late only ever lowers that difference). That alone also fires
 * when every line before was read late (our event loop stalled > 100 ms while ping kept printing —
 * seen on a loaded host: 11 loopback intervals of a 5-minute demo flagged with no step at all), so
 * with `intervalMs` a forward step must also show in ping's own schedule: the stamp minus
 * (icmp_seq × interval) — steady while ping keeps its schedule, whenever we read — jumps by more than
 * 100 ms from the entry before. A late read moves only the first; a stalled ping only the second; a
 * step both. A reply printed after the step for a packet that may have been sent before it
 * (icmp_seq ≤ the highest seen before + 1) has an RTT across the step: untrusted, though received.
 * With the warning, the replies printed as 0.000 ms are the ones it was about. Pure.
 */
export function findClockSteps(
  out: PingOutput,
  lineMonos?: readonly number[],
  intervalMs?: number,
): ClockSteps {
  const untrusted = new Set<number>();
  let stepped = false;
  let maxSeq = 0;
  let lastAt = Number.NEGATIVE_INFINITY;
  let maxOffset = Number.NEGATIVE_INFINITY;
  let acrossUpTo = 0; // replies with seq ≤ this, printed after a step, cross it
  let lastPhase: number | undefined; // stamp − icmp_seq × interval of the entry before
  out.timeline.forEach((entry, i) => {
    const mono = lineMonos?.[i];
    const offset = mono === undefined ? undefined : entry.at_ms - mono;
    const back = entry.at_ms < lastAt;
    const phase = intervalMs === undefined ? undefined : entry.at_ms - entry.seq * intervalMs;
    const scheduleJumped =
      phase === undefined || lastPhase === undefined || phase > lastPhase + FORWARD_STEP_MS;
    const forward =
      offset !== undefined &&
      Number.isFinite(maxOffset) &&
      offset > maxOffset + FORWARD_STEP_MS &&
      scheduleJumped;
    lastPhase = phase;
    if (back || forward) {
      stepped = true;
      acrossUpTo = maxSeq + 1;
      if (offset !== undefined) maxOffset = offset; // the new timescale
    } else if (offset !== undefined) {
      maxOffset = Math.max(maxOffset, offset);
    }
    if (entry.reply !== undefined && entry.seq <= acrossUpTo) untrusted.add(entry.reply);
    lastAt = entry.at_ms;
    maxSeq = Math.max(maxSeq, entry.seq);
  });
  if (out.time_warning) {
    stepped = true;
    out.replies.forEach((r, i) => {
      if (r.rtt_ms === 0) untrusted.add(i);
    });
  }
  return { stepped, untrusted };
}

/** "Destination Host Unreachable" → "host unreachable": the reason as a lost packet carries it. */
export function icmpErrorReason(message: string): string {
  return message
    .replace(/^Destination\s+/i, "")
    .replace(/\bNet\b/i, "network")
    .trim()
    .toLowerCase();
}

/**
 * Turn parsed output into one sample per sent packet (icmp_seq 1..sent) plus a `dup` sample per
 * duplicate reply. Send time of a reply = arrival (`-D`) − RTT; a lost packet's send time is
 * extrapolated from the nearest known send time at the configured interval. A reply slower than the
 * loss timeout is lost and flagged late, as the Sample contract asks.
 */
export function pingSamples(out: PingOutput, opts: PingSampleOptions): Sample[] {
  const sent = opts.sent ?? out.transmitted ?? Math.max(0, ...out.replies.map((r) => r.seq));
  const steps = findClockSteps(out, opts.line_monos, opts.interval_ms);
  const replyMono = new Map<number, number>();
  out.timeline.forEach((e, i) => {
    const m = opts.line_monos?.[i];
    if (e.reply !== undefined && m !== undefined) replyMono.set(e.reply, m);
  });
  const firsts = new Map<number, Sample>();
  const dups: Sample[] = [];
  out.replies.forEach((reply, arrival) => {
    if (reply.seq < 1 || reply.seq > sent) return;
    const sample = steps.untrusted.has(arrival)
      ? acrossStepSample(reply, arrival, opts, replyMono.get(arrival))
      : replySample(reply, arrival, opts);
    if (reply.dup || firsts.has(reply.seq)) dups.push({ ...sample, dup: true });
    else firsts.set(reply.seq, sample);
  });
  const errorReasons = new Map<number, string>();
  for (const e of out.icmp_errors) errorReasons.set(e.seq, icmpErrorReason(e.message));

  const anchor = sendAnchor(firsts, opts);
  const samples: Sample[] = [];
  for (let seq = 1; seq <= sent; seq++) {
    const known = firsts.get(seq);
    if (known) {
      samples.push(known);
      continue;
    }
    const lost: Sample = {
      seq,
      sent_at: anchor.sent_at + (seq - anchor.seq) * opts.interval_ms,
      rtt_ms: null,
    };
    const reason = errorReasons.get(seq) ?? opts.send_reasons?.get(seq);
    if (reason !== undefined) lost.loss_reason = reason;
    samples.push(lost);
  }
  for (const d of dups) samples.push(d);
  return samples;
}

/**
 * The sample for one reply line, as it is settled the moment the line arrives. Without a `-D` stamp
 * or an RTT the send time falls back to the schedule: start + (seq − 1) · interval.
 */
export function replySample(
  reply: PingReply,
  arrival: number,
  opts: Pick<PingSampleOptions, "interval_ms" | "loss_timeout_ms" | "started_at_ms">,
): Sample {
  const sentAt =
    reply.at_ms !== null && reply.rtt_ms !== null
      ? reply.at_ms - reply.rtt_ms
      : opts.started_at_ms + (reply.seq - 1) * opts.interval_ms;
  const late = reply.rtt_ms !== null && reply.rtt_ms > opts.loss_timeout_ms;
  const sample: Sample = {
    seq: reply.seq,
    sent_at: round3(sentAt),
    rtt_ms: late ? null : reply.rtt_ms,
    arrival,
  };
  if (late) sample.late = true;
  if (reply.dup) sample.dup = true;
  return sample;
}

/**
 * A reply whose RTT crosses a wall-clock step: received, flagged `clock_step`, its send time taken from
 * the schedule. Whether it is late is judged on the monotonic clock (read time − scheduled send) when
 * the read time is known; from a transcript alone it is kept: ping received it, and its printed RTT is
 * exactly what the step made meaningless.
 */
function acrossStepSample(
  reply: PingReply,
  arrival: number,
  opts: PingSampleOptions,
  readMono: number | undefined,
): Sample {
  const sample: Sample = {
    seq: reply.seq,
    sent_at: round3(opts.started_at_ms + (reply.seq - 1) * opts.interval_ms),
    rtt_ms: reply.rtt_ms ?? 0,
    arrival,
    clock_step: true,
  };
  if (readMono !== undefined && opts.started_mono_ms !== undefined) {
    const age = readMono - (opts.started_mono_ms + (reply.seq - 1) * opts.interval_ms);
    if (age > opts.loss_timeout_ms) {
      sample.rtt_ms = null;
      sample.late = true;
    }
  }
  if (reply.dup) sample.dup = true;
  return sample;
}

/** The first packet whose send time is known from a reply, else ping's start time for icmp_seq 1. */
function sendAnchor(firsts: Map<number, Sample>, opts: PingSampleOptions): { seq: number; sent_at: number } {
  let best: { seq: number; sent_at: number } | null = null;
  for (const s of firsts.values()) {
    if (s.clock_step) continue;
    if (best === null || s.seq < best.seq) best = { seq: s.seq, sent_at: s.sent_at };
  }
  return best ?? { seq: 1, sent_at: opts.started_at_ms };
}

/** -D prints microseconds; keep that resolution and no float noise beyond it. */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
