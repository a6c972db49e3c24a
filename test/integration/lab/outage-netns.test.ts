import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { canCreateNamespaces, createLab, type Lab } from "../../../scripts/lab/netns.js";

const run = promisify(execFile);

/**
 * Issue 9: an access point that loses its route must read as an outage (sent and lost, with the reason),
 * not as an error that drops out of the loss mean. Two namespaces joined by a veth (198.51.100.0/24),
 * the compiled CLI running `qos-probe test icmp://` inside the first; the test deletes that namespace's
 * only route mid-run. Bounded: 20 packets at 200 ms, a 10 s cap, namespaces removed afterwards.
 */
const CLI = new URL("../../../dist/agent/cli.js", import.meta.url).pathname;
const COUNT = 20;

const runnable = await canCreateNamespaces();
if (!runnable && process.env.CI)
  throw new Error("CI must run the namespace tests as root with iproute2 installed");

/** The lab's veth in namespace `ns` (the only non-loopback link). */
async function vethOf(lab: Lab, ns: string): Promise<string> {
  const { stdout } = await lab.exec(ns, ["ip", "-o", "link", "show", "type", "veth"]);
  const name = /^\d+:\s+([^@:\s]+)/.exec(stdout)?.[1];
  if (!name) throw new Error(`no veth in ${ns}: ${stdout}`);
  return name;
}

/** Resolve when a `ping` process runs in namespace `ns` (the CLI has started measuring). */
async function pingStarted(ns: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { stdout } = await run("ip", ["netns", "pids", ns]).catch(() => ({ stdout: "" }));
    for (const pid of stdout.split("\n").filter(Boolean)) {
      const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
      if (comm.trim() === "ping") return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ping started in ${ns} within ${timeoutMs} ms`);
}

function icmpTest(lab: Lab): Promise<{ stdout: string }> {
  // `timeout`: a bound against a hang, not a speed goal. 20 × 200 ms + 1 s loss timeout is 5 s, and a
  // loaded 2-core host can take seconds more to start node: 25 s stays inside the 30 s test timeout.
  return lab.exec(lab.a, [
    "timeout",
    "25",
    process.execPath,
    CLI,
    "test",
    `icmp://${lab.addrB}`,
    "--count",
    String(COUNT),
    "--interval",
    "200",
    "--timeout",
    "1000",
    "--json",
    "--no-progress",
  ]);
}

describe.skipIf(!runnable)("ICMP through a route that disappears (network namespaces)", () => {
  let lab: Lab;
  beforeEach(async () => {
    lab = await createLab();
  });
  afterEach(async () => {
    await lab?.destroy();
  });

  it("counts packets sent after the route is removed as lost, reason 'network unreachable'", async () => {
    const veth = await vethOf(lab, lab.a);
    const measuring = icmpTest(lab);
    await pingStarted(lab.a);
    // Let a few packets through, then take the route away for the rest of the run.
    await new Promise((r) => setTimeout(r, 1_000));
    await lab.exec(lab.a, ["ip", "route", "del", "198.51.100.0/24", "dev", veth]);
    const result = JSON.parse((await measuring).stdout) as ResultMessage;
    console.info(
      `netns outage: received ${result.packets.received}, lost ${result.packets.lost}`,
      result.packets,
    );

    expect(result.status).toBe("ok");
    expect(result.test).toMatchObject({ address: lab.addrB, family: 4 });
    expect(result.packets.sent).toBe(COUNT);
    // Some replies before the removal, some packets after it; every lost one was sent into no route.
    expect(result.packets.received).toBeGreaterThan(0);
    expect(result.packets.lost).toBeGreaterThan(0);
    expect(result.packets.received + result.packets.lost).toBe(COUNT);
    expect(result.packets.loss_reasons).toEqual({ "network unreachable": result.packets.lost });
    expect(result.loss_ratio).toBeCloseTo(result.packets.lost / COUNT, 10);
  }, 30_000);

  it("counts every packet of a run that starts without a route as sent and lost, not as an error", async () => {
    const veth = await vethOf(lab, lab.a);
    await lab.exec(lab.a, ["ip", "route", "del", "198.51.100.0/24", "dev", veth]);
    const result = JSON.parse((await icmpTest(lab)).stdout) as ResultMessage;
    // ping said "connect: Network is unreachable" and sent nothing: 20 sent and lost, reason given.
    expect(result.status).toBe("ok");
    expect(result.packets).toMatchObject({
      sent: COUNT,
      received: 0,
      lost: COUNT,
      loss_reasons: { "network unreachable": COUNT },
    });
    expect(result.loss_ratio).toBe(1);
    expect(result.verdicts.loss).toBe("fail");
  }, 30_000);
});
