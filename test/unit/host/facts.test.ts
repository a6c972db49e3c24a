import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { collectHostFacts } from "../../../agent/host/facts.js";

describe("collectHostFacts on this machine", () => {
  it("returns real values of the right types and ranges", async () => {
    const facts = await collectHostFacts();
    expect(facts.hostname).toBe(hostname());
    expect(facts.cpu_load_percent).toBeGreaterThanOrEqual(0);
    expect(facts.cpu_load_percent).toBeLessThanOrEqual(100);
    expect(facts.memory_total_bytes).toBeGreaterThan(0);
    expect(facts.memory_used_bytes).toBeGreaterThan(0);
    expect(facts.memory_used_bytes!).toBeLessThanOrEqual(facts.memory_total_bytes!);
    expect(facts.uptime_s).toBeGreaterThan(0);
    // VMs expose no sensor: null is the honest answer; a real reading is a plausible °C.
    if (facts.temperature_c !== null) {
      expect(facts.temperature_c).toBeGreaterThan(0);
      expect(facts.temperature_c).toBeLessThan(150);
    }
    expect(facts.os.arch).toMatch(/^(x64|arm64|arm|ia32|ppc64|s390x|riscv64)$/);
    expect(typeof facts.os.distro).toBe("string");
    expect(typeof facts.os.release).toBe("string");
  });

  it("answers the second call from the cached OS facts with the same values", async () => {
    const a = await collectHostFacts();
    const b = await collectHostFacts();
    expect(b.os).toEqual(a.os);
  });
});
