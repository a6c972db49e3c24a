import { spawn } from "node:child_process";
import { ProbeFaultError, QosProbeError } from "../errors.js";
import { type PingOutput, parsePingLine, parsePingOutput, pingSamples, replySample } from "./icmp-parse.js";
import { checkPingSize, ICMP_MAX_COUNT, ICMP_OVERHEAD_BYTES } from "./limits.js";
import { noteTarget, type ProbeContext, type Prober, type ProbeSpec, type Sample } from "./prober.js";
import { resolveHost } from "./resolve.js";
import { routeProblem } from "./route-check.js";

/** Largest payload that fits the IPv4 total length / the IPv6 payload length field. */
const MAX_COUNT = ICMP_MAX_COUNT;

export { ICMP_OVERHEAD_BYTES };

/** Our own bound on top of ping's schedule, and the grace between SIGINT and SIGKILL. */
const EXIT_SLACK_MS = 2_000;
const KILL_GRACE_MS = 1_000;
/** Route checks for unanswered packets (route-check.ts) are shared within this many ms. */
const ROUTE_CHECK_EVERY_MS = 100;

export interface PingPlan {
  address: string;
  family: 4 | 6;
  payload_bytes: number;
  args: string[];
}

/**
 * ICMP echo through the system `ping` (iputils), one sample per echo request with its own RTT.
 *
 * We spawn the binary ourselves rather than through the `ping` npm package: the package hands back
 * neither the child process (so an aborted run could not be stopped) nor which icmp_seq each RTT
 * belongs to (so losses, duplicates and reordering would be invisible), and it rewrites
 * `process.env.LANG` for the whole process. Running the binary keeps the package's useful part —
 * unprivileged ICMP through ping's cap_net_raw — without those costs.
 *
 * Known limit of iputils: after its last packet ping waits max(2 × max RTT, interval), not -W, so a
 * reply to one of the last packets that is slower than that (yet inside the loss timeout) counts lost.
 */
export const icmp: Prober = async (spec, ctx) => {
  const plan = await planPing(spec, ctx.signal);
  noteTarget(ctx.facts, plan);
  if (ctx.signal.aborted) return [];
  ctx.log.debug({ args: plan.args }, "starting ping");
  const startedAt = ctx.clock.now();
  const startedMono = ctx.clock.mono();
  const run = await runPing(plan, spec, ctx, startedAt);
  const { stdout, stderr, spawnError } = run;
  if (spawnError) {
    throw new QosProbeError("PROBE_SETUP", `cannot run ping: ${spawnError.message}`, {
      hint: "install iputils-ping (apt-get install iputils-ping)",
      cause: spawnError,
    });
  }

  const out = parsePingOutput(`${stdout}\n${stderr}`);
  const anyPacket = out.replies.length + out.no_answer.length + out.icmp_errors.length > 0;
  if (out.failure !== null && !anyPacket && !out.transmitted) {
    const outage = sendTimeOutage(out.failure);
    // No route when ping started: it exits at once. The interval's packets count as sent and lost
    // with the reason — an outage is exactly what availability (3.2.2.4) must see, not "unmeasured".
    if (outage) return outageSamples(spec, startedAt, outage, ctx);
    throw pingFailure(out.failure, spec);
  }

  // The last packets get no "no answer yet" line; a route check now covers them.
  const lastNoAnswer = Math.max(0, ...out.no_answer.map((n) => n.seq));
  const tailReason = await routeProblem(plan.address, plan.family);
  const sendReasons = new Map(run.sendReasons);
  const sent = out.transmitted ?? highestSeq(out);
  if (tailReason) for (let seq = lastNoAnswer + 1; seq <= sent; seq++) sendReasons.set(seq, tailReason);

  const samples = pingSamples(out, {
    interval_ms: spec.interval_ms,
    loss_timeout_ms: spec.loss_timeout_ms,
    sent,
    started_at_ms: startedAt,
    started_mono_ms: startedMono,
    line_monos: run.lineMonos,
    send_reasons: sendReasons,
  });
  if (samples.some((s) => s.clock_step)) ctx.facts?.flags.push("clock-step");
  // Replies were reported as they arrived; packets that never got one are settled now.
  if (ctx.onSample) for (const s of samples) if (s.arrival === undefined) ctx.onSample(s);
  return samples;
};

/** Validate the spec against what ping can do, resolve the target once, and build ping's arguments. */
export async function planPing(spec: ProbeSpec, signal: AbortSignal): Promise<PingPlan> {
  if (spec.schedule !== "periodic") {
    throw new QosProbeError("PROBE_SETUP", "ICMP probes through ping can only send periodically", {
      hint: "set schedule: periodic for icmp tests (poisson is available for stamp)",
    });
  }
  if (!Number.isInteger(spec.count) || spec.count < 1 || spec.count > MAX_COUNT) {
    throw new QosProbeError("PROBE_SETUP", `ICMP count must be 1..${MAX_COUNT}, got ${spec.count}`);
  }
  const { address, family } = await resolveHost(spec, signal);
  const payload = checkPingSize(spec.packet_size_bytes, family);
  const args = [
    "-n", // numeric: no reverse lookups while measuring
    "-D", // wall-clock timestamp per line: arrival time, hence send time = arrival − RTT
    "-O", // report packets still unanswered when the next one goes out
    `-${family}`,
    "-c",
    String(spec.count),
    "-i",
    seconds(spec.interval_ms),
    "-s",
    String(payload),
    "-W",
    seconds(spec.loss_timeout_ms),
    "-Q",
    String(spec.dscp << 2), // TOS byte = DSCP in the upper six bits, ECN bits zero
    address,
  ];
  return { address, family, payload_bytes: payload, args };
}

interface PingRun {
  stdout: string;
  stderr: string;
  spawnError: Error | undefined;
  /** Monotonic read time of each stamped packet line (parsePingOutput's `timeline` order). */
  lineMonos: number[];
  /** Route problems seen when ping reported a packet unanswered, by icmp_seq. */
  sendReasons: Map<number, string>;
}

/** ping's diagnostics that mean "no route from here" at start: an outage, not a failed measurement. */
export function sendTimeOutage(failure: string): string | undefined {
  if (/Network is unreachable/i.test(failure)) return "network unreachable";
  if (/No route to host/i.test(failure)) return "host unreachable";
  return undefined;
}

/** Every packet of the run, lost for `reason`, on the schedule ping would have kept. */
function outageSamples(spec: ProbeSpec, startedAt: number, reason: string, ctx: ProbeContext): Sample[] {
  const samples: Sample[] = [];
  for (let seq = 1; seq <= spec.count; seq++) {
    const s: Sample = {
      seq,
      sent_at: startedAt + (seq - 1) * spec.interval_ms,
      rtt_ms: null,
      loss_reason: reason,
    };
    samples.push(s);
    ctx.onSample?.(s);
  }
  return samples;
}

/**
 * Run ping to completion, reporting each reply as its line arrives. SIGINT (ping prints its
 * statistics) on abort or when our own bound passes; SIGKILL if it does not go.
 */
function runPing(plan: PingPlan, spec: ProbeSpec, ctx: ProbeContext, startedAt: number): Promise<PingRun> {
  const args = plan.args;
  const lineMonos: number[] = [];
  const sendReasons = new Map<number, string>();
  const checks: Promise<void>[] = [];
  let lastCheck: { mono: number; result: Promise<string | undefined> } | undefined;
  return new Promise((resolve) => {
    // LANG/LC_ALL=C pin the output format the parser reads; the agent's own environment is left alone.
    const child = spawn("ping", args, {
      env: { ...process.env, LANG: "C", LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    let arrival = 0;
    const seen = new Set<number>();
    const opts = {
      interval_ms: spec.interval_ms,
      loss_timeout_ms: spec.loss_timeout_ms,
      started_at_ms: startedAt,
    };

    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      const readMono = ctx.clock.mono(); // arrival judged on the monotonic clock, not on -D stamps
      for (const line of lines) {
        const parsed = parsePingLine(line);
        if (parsed === null) continue;
        if (parsed.kind === "no-answer" || parsed.kind === "icmp-error") {
          if ((parsed.kind === "no-answer" ? parsed.no_answer.at_ms : parsed.error.at_ms) !== null) {
            lineMonos.push(readMono);
          }
          if (parsed.kind === "no-answer") {
            const seq = parsed.no_answer.seq;
            // One route lookup per ROUTE_CHECK_EVERY_MS at most, however many packets go unanswered.
            if (!lastCheck || readMono - lastCheck.mono >= ROUTE_CHECK_EVERY_MS) {
              lastCheck = { mono: readMono, result: routeProblem(plan.address, plan.family) };
            }
            checks.push(
              lastCheck.result.then((reason) => {
                if (reason) sendReasons.set(seq, reason);
              }),
            );
          }
          continue;
        }
        if (parsed.kind !== "reply") continue;
        const reply = parsed.reply;
        if (reply.at_ms !== null) lineMonos.push(readMono);
        const sample = replySample(reply, arrival++, opts);
        if (seen.has(reply.seq)) sample.dup = true;
        seen.add(reply.seq);
        ctx.onSample?.(sample);
      }
    });
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
    });

    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT");
      killTimer ??= setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    };
    const bound = (spec.count - 1) * spec.interval_ms + spec.loss_timeout_ms + EXIT_SLACK_MS;
    const boundTimer = setTimeout(stop, bound);
    ctx.signal.addEventListener("abort", stop, { once: true });
    if (ctx.signal.aborted) stop();

    let spawnError: Error | undefined;
    child.once("error", (err) => {
      spawnError = err;
    });
    child.once("close", () => {
      clearTimeout(boundTimer);
      clearTimeout(killTimer);
      ctx.signal.removeEventListener("abort", stop);
      void Promise.all(checks).then(() => resolve({ stdout, stderr, spawnError, lineMonos, sendReasons }));
    });
  });
}

/** Turn ping's own diagnostic into an error that says what to change. */
export function pingFailure(message: string, spec: Pick<ProbeSpec, "host" | "interval_ms">): QosProbeError {
  const interval = /minimal interval allowed for user is ([\d.]+) ?ms/.exec(message);
  if (interval) {
    return new QosProbeError(
      "PROBE_SETUP",
      `ICMP interval ${spec.interval_ms} ms is below the ${interval[1]} ms this ping allows a non-root user`,
      { hint: `raise interval_ms to at least ${interval[1]}, or run the agent as root` },
    );
  }
  if (/Name or service not known|Temporary failure in name resolution|unknown host/i.test(message)) {
    return new ProbeFaultError("NAME_UNRESOLVABLE", `cannot resolve ${spec.host}: ${message}`);
  }
  if (/Operation not permitted|Permission denied/i.test(message)) {
    return new QosProbeError("PROBE_SETUP", `ping may not open an ICMP socket: ${message}`, {
      hint: "give ping cap_net_raw (setcap cap_net_raw+ep /usr/bin/ping) or widen net.ipv4.ping_group_range; containers must keep NET_RAW",
    });
  }
  return new QosProbeError("PROBE_SETUP", `ping failed: ${message}`);
}

function highestSeq(out: PingOutput): number {
  return Math.max(0, ...[...out.replies, ...out.no_answer, ...out.icmp_errors].map((x) => x.seq));
}

/** ping takes seconds as a decimal with a dot regardless of locale; microseconds are its resolution. */
function seconds(ms: number): string {
  return String(Math.round(ms * 1000) / 1_000_000);
}
