import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { baseBytes, followUpFits, type StampMode } from "../../../agent/probe/stamp/packet.js";
import { udpPayloadBytes } from "../../../agent/probe/stamp/sender.js";

/**
 * The README's packet sizes for Follow-Up Telemetry are the sizes the sender asks at (followUpFits):
 * a reader who picks "at least N" must not land in the 1–3 octet gap where nothing is asked.
 */
const README = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8").replace(/\s+/g, " ");

/** The smallest IP packet size that asks, and the first size after the gap from which every size asks. */
function sizes(family: 4 | 6, mode: StampMode): [number, number] {
  const asks = (ip: number) => followUpFits(udpPayloadBytes(ip, family, mode) - baseBytes(mode), mode);
  let first = 28;
  while (!asks(first)) first += 1;
  let from = first + 1;
  while (!asks(from)) from += 1;
  // From there on every size asks (checked up to a jumbo frame).
  for (let ip = from; ip <= 9000; ip++) expect(asks(ip), `${ip} B`).toBe(true);
  return [first, from];
}

describe("README: packet sizes that carry Follow-Up Telemetry", () => {
  it("names each mode's and family's sizes as the sender computes them", () => {
    const [a4, b4] = sizes(4, "authenticated");
    const [a6, b6] = sizes(6, "authenticated");
    const [o4, p4] = sizes(4, "unauthenticated");
    const [o6, p6] = sizes(6, "unauthenticated");
    const sentence = `it needs a packet of ${a4} or ≥ ${b4} B over IPv4 (IPv6: ${a6} or ≥ ${b6} B; open mode ${o4} or ≥ ${p4} B, IPv6 ${o6} or ≥ ${p6} B`;
    expect(README.includes(sentence), `README should say: ${sentence}`).toBe(true);
  });
});
