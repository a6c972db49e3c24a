import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Outbox } from "../../../agent/publish/outbox.js";
import { AgentProcess } from "../../helpers/agent-process.js";

/**
 * SIGTERM with no reachable broker (review: ≈ 12 s to stop: 2 s waiting to say goodbye, then the whole
 * 10 s flush deadline for acknowledgements nothing could send). The agent now stops publishing at once,
 * closes the outbox and exits; the results it could not deliver are still in the outbox afterwards, and
 * the log says each step. No timed assertion: the stop time is measured in the report, not here.
 */

/** A TCP port on loopback where nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** One ICMP test to a peer, publishing to `port` where no broker listens; `extra` YAML appended. */
function agentYaml(port: number, extra: string, agentExtra = ""): (dataDir: string) => string {
  return (dataDir) => `
version: 1
agent: { site: bj-op-01, data_dir: ${dataDir}${agentExtra} }
sites:
  - { id: bj-op-01, operator: op, province: "110000", reflector: { host: 127.0.0.1, port: 9 } }
  - { id: gz-op-01, operator: op, province: "440000", reflector: { host: 127.0.0.1, port: 9 } }
reflector: { enabled: false }
tests:
  - { id: bj-gz-icmp, method: icmp, from: bj-op-01, to: gz-op-01, rate_pps: 5, loss_timeout_ms: 200, continuous: { interval_s: 1 } }
mqtt: { url: "mqtt://127.0.0.1:${port}", keepalive_s: 5 }
${extra}
`;
}

describe("agent SIGTERM without a reachable broker", () => {
  let agent: AgentProcess | undefined;
  afterEach(async () => {
    await agent?.destroy();
  });

  it("exits 0 with every result still in the outbox, and logs the shutdown steps", async () => {
    const port = await deadPort();
    agent = await AgentProcess.create(agentYaml(port, "heartbeat: { interval_s: 5 }"));
    agent.start();
    await agent.waitFor((lines) => lines.filter((l) => l.msg === "result").length >= 3);
    expect(agent.lines.some((l) => l.msg === "MQTT connected")).toBe(false);
    expect(await agent.signal("SIGTERM")).toBe(0);

    // Every result the agent made (including one an aborted run handed in while stopping) is kept.
    const seqs = agent.resultSeqs();
    expect(seqs.length).toBeGreaterThanOrEqual(3);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const outbox = new Outbox({
      dir: join(agent.dir, "data", "bj-op-01", "outbox"),
      max_bytes: 64 << 20,
      max_age_ms: 86_400_000,
    });
    const opened = await outbox.open();
    try {
      expect(opened.replayed).toBe(seqs.length);
      expect(outbox.peek(1000).map((r) => r.seq)).toEqual(seqs);
      expect(outbox.nextSeq()).toBe(seqs.length + 1);
    } finally {
      await outbox.close();
    }

    // The steps, in order, from the signal to the exit.
    const steps = agent.lines.map((l) => l.msg);
    const from = steps.indexOf("agent stopping");
    expect(from).toBeGreaterThan(0);
    expect(
      steps
        .slice(from)
        .filter((m) => m !== "result")
        .map((m) => m.replace(/\d+ undelivered/, "N undelivered")),
    ).toEqual([
      "agent stopping",
      "broker not reachable: no flush; undelivered results stay in the outbox for the next start, the Last Will announces this agent offline",
      "MQTT publisher stopped",
      "outbox closed: N undelivered results kept for the next start",
      "agent stopped",
    ]);
    const stopped = agent.lines.find((l) => l.msg === "MQTT publisher stopped");
    expect(stopped).toMatchObject({ depth: seqs.length, in_flight: 0, published: 0, acked: 0 });
    const closed = agent.lines.find((l) => l.msg.startsWith("outbox closed"));
    expect(closed).toMatchObject({
      msg: `outbox closed: ${seqs.length} undelivered results kept for the next start`,
      depth: seqs.length,
      next_seq: seqs.length + 1,
    });
  }, 60_000);

  it("--log-level on the command line wins over agent.log_level in the file", async () => {
    const port = await deadPort();
    agent = await AgentProcess.create(agentYaml(port, "", ", log_level: warn"));
    agent.start({}, ["--log-level", "debug"]);
    // debug (20) lines and the info "result" lines the file's warn level would hide
    await agent.waitFor(
      (lines) => lines.some((l) => l.msg === "result") && lines.some((l) => l.level === 20),
    );
    expect(await agent.signal("SIGTERM")).toBe(0);
    await agent.destroy();

    // Without the flag the file's warn applies: no info or debug line after the level is set.
    agent = await AgentProcess.create(agentYaml(port, "", ", log_level: warn"));
    agent.start();
    // the MQTT client's connect failures are warnings: wait for a few of them, then stop
    await agent.waitFor((lines) => lines.filter((l) => l.level >= 40).length >= 1);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await agent.signal("SIGTERM")).toBe(0);
    expect(agent.lines.filter((l) => l.level < 40)).toEqual([]);
  }, 60_000);
});
