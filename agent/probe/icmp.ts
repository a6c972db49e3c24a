import { spawn } from "node:child_process";
import { QosProbeError } from "../errors.js";
import { type PingOutput, parsePingLine, parsePingOutput, pingSamples, replySample } from "./icmp-parse.js";
import { ICMP_MAX_COUNT, ICMP_MIN_PAYLOAD_BYTES, ICMP_OVERHEAD_BYTES } from "./limits.js";
import type { ProbeContext, Prober, ProbeSpec } from "./prober.js";
import { resolveHost } from "./resolve.js";

/** Largest payload that fits the IPv4 total length / the IPv6 payload length field. */
const MAX_PAYLOAD_BYTES = { 4: 65_535 - 28, 6: 65_535 - 8 } as const;
const MIN_PAYLOAD_BYTES = ICMP_MIN_PAYLOAD_BYTES;
const MAX_COUNT = ICMP_MAX_COUNT;

export { ICMP_OVERHEAD_BYTES };

/** Our own bound on top of ping's schedule, and the grace between SIGINT and SIGKILL. */
const EXIT_SLACK_MS = 2_000;
const KILL_GRACE_MS = 1_000;

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
  if (ctx.signal.aborted) return [];
  ctx.log.debug({ args: plan.args }, "starting ping");
  const startedAt = ctx.clock.now();
  const { stdout, stderr, spawnError } = await runPing(plan.args, spec, ctx, startedAt);
  if (spawnError) {
    throw new QosProbeError("PROBE_SETUP", `cannot run ping: ${spawnError.message}`, {
      hint: "install iputils-ping (apt-get install iputils-ping)",
      cause: spawnError,
    });
  }

  const out = parsePingOutput(`${stdout}\n${stderr}`);
  const anyPacket = out.replies.length + out.no_answer.length + out.icmp_errors.length > 0;
  if (out.failure !== null && !anyPacket && !out.transmitted) throw pingFailure(out.failure, spec);

  const samples = pingSamples(out, {
    interval_ms: spec.interval_ms,
    loss_timeout_ms: spec.loss_timeout_ms,
    sent: out.transmitted ?? highestSeq(out),
    started_at_ms: startedAt,
  });
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
  const payload = spec.packet_size_bytes - ICMP_OVERHEAD_BYTES[family];
  if (payload < MIN_PAYLOAD_BYTES || payload > MAX_PAYLOAD_BYTES[family]) {
    const min = MIN_PAYLOAD_BYTES + ICMP_OVERHEAD_BYTES[family];
    const max = MAX_PAYLOAD_BYTES[family] + ICMP_OVERHEAD_BYTES[family];
    throw new QosProbeError(
      "PROBE_SETUP",
      `packet_size_bytes ${spec.packet_size_bytes} does not fit an IPv${family} ICMP echo (${min}..${max})`,
      { hint: `ping needs ${MIN_PAYLOAD_BYTES} payload bytes to time a reply; choose ${min}..${max}` },
    );
  }
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
}

/**
 * Run ping to completion, reporting each reply as its line arrives. SIGINT (ping prints its
 * statistics) on abort or when our own bound passes; SIGKILL if it does not go.
 */
function runPing(args: string[], spec: ProbeSpec, ctx: ProbeContext, startedAt: number): Promise<PingRun> {
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
      for (const line of lines) {
        const parsed = parsePingLine(line);
        if (parsed?.kind !== "reply") continue;
        const reply = parsed.reply;
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
      resolve({ stdout, stderr, spawnError });
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
    return new QosProbeError("PROBE_TARGET", `cannot resolve ${spec.host}: ${message}`);
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
