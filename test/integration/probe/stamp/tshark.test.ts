import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  encodeSenderPacket,
  type ParsedReflectorPacket,
  parseReflectorPacket,
} from "../../../../agent/probe/stamp/packet.js";
import { Reflector } from "../../../../agent/probe/stamp/reflector.js";
import { udpPeer, until } from "./harness.js";

/**
 * An outside check of the wire format: Wireshark's TWAMP-test dissector decodes what our reflector
 * put on the loopback wire, and its sequence numbers and timestamps must equal ours.
 */
const TSHARK = "/usr/bin/tshark";
const haveTshark = existsSync(TSHARK);
if (!haveTshark && process.env.CI) throw new Error("CI must run the tshark wire-format test: install tshark");

const FIELDS = [
  "udp.srcport",
  "twamp.test.seq_number",
  "twamp.test.timestamp",
  "twamp.test.receive_timestamp",
  "twamp.test.sender_seq_number",
  "twamp.test.sender_timestamp",
  "twamp.test.error_estimate.s",
  "twamp.test.error_estimate.scale",
  "twamp.test.error_estimate.multiplier",
] as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Wireshark prints absolute times as "Nov 25, 2026 16:20:26.123456789 UTC" (TZ=UTC); to ns since 1970. */
function tsharkTimeToNs(text: string): bigint {
  const m = /^(\w{3}) +(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d+)/.exec(text.trim());
  if (!m) throw new Error(`unexpected tshark time "${text}"`);
  const [, mon, day, year, hh, mm, ss, frac] = m as unknown as string[];
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].indexOf(
    mon ?? "",
  );
  const wholeMs = Date.UTC(Number(year), month, Number(day), Number(hh), Number(mm), Number(ss));
  const ns = BigInt((frac ?? "0").padEnd(9, "0").slice(0, 9));
  return BigInt(wholeMs) * 1_000_000n + ns;
}

/** Our NTP timestamp as ns since 1970, truncated to whole ns as Wireshark shows it. */
function ntpToNs(t: { seconds: number; fraction: number }): bigint {
  const unixS = BigInt(t.seconds) - 2_208_988_800n;
  return unixS * 1_000_000_000n + (BigInt(t.fraction) * 1_000_000_000n) / 2n ** 32n;
}

function absNs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function startCapture(
  port: number,
  packets: number,
): { proc: ChildProcess; done: Promise<string>; ready: () => boolean } {
  const args = ["-i", "lo", "-f", `udp port ${port}`, "-c", String(packets), "-a", "duration:10"];
  args.push("-d", `udp.port==${port},twamp.test`, "-T", "fields", "-E", "separator=|");
  for (const f of FIELDS) args.push("-e", f);
  const proc = spawn(TSHARK, args, { env: { ...process.env, TZ: "UTC", LC_ALL: "C" } });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<string>((resolve, reject) => {
    proc.on("error", reject);
    proc.on("close", (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`tshark exited ${code}: ${stderr}`)),
    );
  });
  return { proc, done, ready: () => /Capture started/.test(stderr) };
}

describe.skipIf(!haveTshark)("wire format as Wireshark decodes it", () => {
  it("reflector packets carry the sequence numbers and timestamps we sent and read", async () => {
    const reflector = new Reflector({
      host: "127.0.0.1",
      port: 0,
      clockSync: { synced: true, source: "chrony", max_error_ms: 1 },
    });
    await reflector.start();
    cleanups.push(() => reflector.stop());
    const port = reflector.address().port;

    const SEQS = [5, 6, 7];
    const capture = startCapture(port, SEQS.length * 2);
    cleanups.push(() => {
      capture.proc.kill();
    });
    expect(await until(() => capture.ready(), 10_000)).toBe(true);

    const replies: ParsedReflectorPacket[] = [];
    const peer = await udpPeer((msg) => replies.push(parseReflectorPacket(msg)));
    cleanups.push(peer.close);
    // T1 = 0xE5A1B2C3 s + 0.25 s since 1900, written by hand so tshark's reading can be checked.
    const t1 = { seconds: 0xe5a1b2c3, fraction: 0x40000000 };
    for (const seq of SEQS) {
      peer.socket.send(
        encodeSenderPacket({ seq, timestamp: t1, errorEstimate: 0x8f84, ssid: 9 }, { length: 60 }),
        port,
        "127.0.0.1",
      );
    }
    expect(await until(() => replies.length === SEQS.length, 5000)).toBe(true);

    const rows = (await capture.done)
      .trim()
      .split("\n")
      .map((line) => line.split("|"))
      .filter((cols) => Number(cols[0]) === port); // packets from the reflector
    expect(rows).toHaveLength(SEQS.length);
    for (const [i, cols] of rows.entries()) {
      const [, seq, ts, rxTs, senderSeq, senderTs, sBit, scale, multiplier] = cols;
      const ours = replies[i] as ParsedReflectorPacket;
      expect(Number(seq)).toBe(SEQS[i]);
      expect(Number(senderSeq)).toBe(SEQS[i]);
      // 0xE5A1B2C3 = 3852579523 s since 1900 − 2208988800 = 1643590723 s Unix + 0.25 s.
      expect(tsharkTimeToNs(senderTs ?? "")).toBe(1_643_590_723_250_000_000n);
      // Wireshark converts the 2^-32 s fraction to ns through a double: allow it 1 ns of rounding.
      expect(absNs(tsharkTimeToNs(ts ?? "") - ntpToNs(ours.timestamp))).toBeLessThanOrEqual(1n);
      expect(absNs(tsharkTimeToNs(rxTs ?? "") - ntpToNs(ours.receiveTimestamp))).toBeLessThanOrEqual(1n);
      // Two Error Estimates per reply, ours then the echoed sender's (0x8F84 sent above); ours for a
      // synced clock with a 1 ms bound is also S=1, Scale 15, Multiplier 132 (see time.test.ts).
      expect([sBit, scale, multiplier]).toEqual(["1,1", "15,15", "132,132"]);
    }
  });
});
