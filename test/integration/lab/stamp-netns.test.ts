import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { timestampPreference } from "../../../agent/net/udp.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { canCreateNamespaces, createLab, type Lab, waitForOutput } from "../../../scripts/lab/netns.js";

/**
 * STAMP against the kernel's own accounting, in network namespaces (documentation addresses only):
 * - a route removed mid-run: the sends that find no path are sent and lost with their reason (an
 *   outage, issue 9), the result stays `ok`;
 * - a reflector flooded past a small receive buffer: its kernel-drop count (SO_RXQ_OVFL) equals the
 *   namespace's UDP RcvbufErrors delta, and received + dropped = sent.
 * The compiled CLI and dist modules run inside the namespaces (npm test builds first).
 */
const CLI = new URL("../../../dist/agent/cli.js", import.meta.url).pathname;
const FLOOD = new URL("../../fixtures/netns/flood-reflector.mjs", import.meta.url).pathname;
const PORT = 8621;

const runnable = await canCreateNamespaces();
if (!runnable && process.env.CI)
  throw new Error("CI must run the namespace tests as root with iproute2 installed");

describe.skipIf(!runnable)(`STAMP in namespaces (${timestampPreference()} timestamps)`, () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await createLab();
    const reflector = lab.spawn(lab.b, [
      process.execPath,
      CLI,
      "reflect",
      "--listen",
      `${lab.addrB}:${PORT}`,
    ]);
    await waitForOutput(reflector, /listening/);
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it("a route lost mid-run: unsent packets are lost with reason ENETUNREACH, status ok", async () => {
    const COUNT = 150;
    const test = lab.spawn(lab.a, [
      process.execPath,
      CLI,
      "test",
      `stamp://${lab.addrB}:${PORT}`,
      "--count",
      String(COUNT),
      "--interval",
      "10",
      "--timeout",
      "300",
      "--json",
      "--no-progress",
    ]);
    let stdout = "";
    test.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise((resolve) => test.once("exit", resolve));
    await new Promise((r) => setTimeout(r, 600));
    await lab.exec(lab.a, ["ip", "route", "flush", "dev", (await devOf(lab, lab.a)) ?? ""]);
    await exited;
    const result = JSON.parse(stdout) as ResultMessage;
    expect(result.status).toBe("ok");
    expect(result.packets.sent).toBe(COUNT);
    expect(result.outage?.reason).toBe("ENETUNREACH");
    const unsent = result.outage?.packets ?? 0;
    expect(unsent).toBeGreaterThan(0);
    // Every packet is accounted for: replied, lost on the way, or never sent for want of a route.
    expect(result.packets.received + result.packets.lost).toBe(COUNT);
    expect(result.packets.lost).toBeGreaterThanOrEqual(unsent);
    expect(result.test).toMatchObject({ address: lab.addrB, family: 4 });
  }, 30_000);

  it.skipIf(timestampPreference() === "user")(
    "kernel drops at a flooded reflector equal the kernel's RcvbufErrors delta",
    async () => {
      const { stdout } = await lab.exec(lab.b, [process.execPath, FLOOD, "20000"]);
      const out = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as {
        sent: number;
        failed: number;
        counters: { received: number; dropped_kernel: number };
        rcvbufErrorsDelta: number;
        floodSocketDrops: number;
        timestamps: string;
      };
      console.info(`netns flood: ${JSON.stringify(out)}`);
      expect(out.timestamps).toBe("kernel");
      expect(out.failed).toBe(0);
      expect(out.counters.dropped_kernel).toBeGreaterThan(0);
      // The namespace's only UDP receivers are the reflector and the flood socket (its replies).
      expect(out.counters.dropped_kernel + out.floodSocketDrops).toBe(out.rcvbufErrorsDelta);
      expect(out.counters.received + out.counters.dropped_kernel).toBe(out.sent);
    },
    30_000,
  );
});

/** The veth device of a namespace (the lab names it v<id>a / v<id>b). */
async function devOf(lab: Lab, ns: string): Promise<string | undefined> {
  const { stdout } = await lab.exec(ns, ["ip", "-o", "link", "show", "type", "veth"]);
  return /^\d+:\s+([^@:\s]+)/.exec(stdout)?.[1];
}
