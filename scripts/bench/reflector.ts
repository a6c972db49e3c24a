import dgram from "node:dgram";
import { encodeSenderPacket } from "../../agent/probe/stamp/packet.js";
import { CLI, freePort, startProcess, table } from "./common.js";

/**
 * bench:reflector — the highest packet rate the reflector (its own process, as deployed) sustains with
 * < 0.1 % loss. A paced load generator in this process sends 44-byte STAMP packets for a fixed time at
 * rising rates and counts the replies. The generator shares the 2 cores, so the figure is a floor.
 */
const STEP_SECONDS = Number(process.env.BENCH_STEP_S ?? 2);
const RATES = (process.env.BENCH_RATES ?? "1000,2000,5000,10000,15000,20000,30000,40000,50000,70000,100000")
  .split(",")
  .map(Number);
const LOSS_LIMIT = 0.001;
/** Replies still in flight after the last send are given this long to arrive. */
const DRAIN_MS = 500;

interface StepResult {
  rate: number;
  sent: number;
  received: number;
  achieved_pps: number;
}

async function step(socket: dgram.Socket, port: number, rate: number): Promise<StepResult> {
  const total = Math.round(rate * STEP_SECONDS);
  const seen = new Uint8Array(total);
  let received = 0;
  const onMessage = (msg: Buffer) => {
    const seq = msg.readUInt32BE(24); // Session-Sender Sequence Number in the reflector packet
    if (seq < total && seen[seq] === 0) {
      seen[seq] = 1;
      received += 1;
    }
  };
  socket.on("message", onMessage);
  const packet = encodeSenderPacket(
    { seq: 0, timestamp: { seconds: 0, fraction: 0 }, errorEstimate: 1, ssid: 0 },
    {
      length: 44,
    },
  );
  const start = performance.now();
  let sent = 0;
  // Pace by catching up to where the schedule says we should be, yielding to the event loop between
  // bursts so replies are read while we send.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (sent < due) {
      const buf = Buffer.from(packet);
      buf.writeUInt32BE(sent, 0);
      socket.send(buf, port, "127.0.0.1");
      sent += 1;
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, DRAIN_MS));
  socket.off("message", onMessage);
  return { rate, sent, received, achieved_pps: sent / elapsed };
}

async function main(): Promise<void> {
  const port = await freePort();
  const reflector = await startProcess(
    process.execPath,
    [
      CLI,
      "reflect",
      "--listen",
      `127.0.0.1:${port}`,
      "--rate-limit",
      "1000000000",
      "--stats-interval",
      "3600",
    ],
    /listening/,
  );
  const socket = dgram.createSocket({ type: "udp4", recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  console.log(
    `bench:reflector  44-byte STAMP packets on loopback, ${STEP_SECONDS} s per rate, pass = loss < 0.1 %\n`,
  );
  const rows: string[][] = [["target pps", "achieved pps", "sent", "received", "loss %", "pass"]];
  let best = 0;
  let failures = 0;
  try {
    for (const rate of RATES) {
      const r = await step(socket, port, rate);
      const loss = 1 - r.received / r.sent;
      // The generator must really have offered the rate, or the step says nothing about the reflector.
      const offered = r.achieved_pps >= rate * 0.95;
      const pass = offered && loss < LOSS_LIMIT;
      rows.push([
        String(rate),
        r.achieved_pps.toFixed(0),
        String(r.sent),
        String(r.received),
        (loss * 100).toFixed(3),
        pass ? "yes" : offered ? "no" : "generator-limited",
      ]);
      if (pass) best = rate;
      else if (++failures >= 2) break;
    }
  } finally {
    socket.close();
    reflector.kill("SIGTERM");
  }
  console.log(table(rows));
  console.log(`\nhighest sustained rate with < 0.1 % loss: ${best} pps`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
