import { readFileSync } from "node:fs";
import { arch, hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { collectHostFacts, parseMeminfo, parseOsRelease } from "../../../agent/host/facts.js";

describe("parseMeminfo (proc(5))", () => {
  it("gives bytes: used = MemTotal − MemAvailable", () => {
    const text = "MemTotal:        3884376 kB\nMemFree:          120000 kB\nMemAvailable:    2000000 kB\n";
    expect(parseMeminfo(text)).toEqual({
      total_bytes: 3884376 * 1024,
      used_bytes: (3884376 - 2000000) * 1024,
    });
  });

  it("is null without MemAvailable (a kernel older than 3.14)", () => {
    expect(parseMeminfo("MemTotal:        3884376 kB\nMemFree:          120000 kB\n")).toBeNull();
  });
});

describe("parseOsRelease (os-release(5))", () => {
  it("reads NAME and VERSION_ID, quoted or not", () => {
    const text =
      'PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\nNAME="Raspbian GNU/Linux"\nVERSION_ID=12\nID=raspbian\n';
    expect(parseOsRelease(text)).toEqual({ distro: "Raspbian GNU/Linux", release: "12" });
  });

  it("undoes backslash escapes and gives null for a missing key", () => {
    expect(parseOsRelease('NAME="Say \\"hi\\""\n')).toEqual({ distro: 'Say "hi"', release: null });
  });
});

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
    // The same values as the kernel's and the OS's own files.
    const meminfo = readFileSync("/proc/meminfo", "utf8");
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1]) * 1024;
    expect(facts.memory_total_bytes).toBe(total);
    const osRelease = readFileSync("/etc/os-release", "utf8");
    expect(facts.os.distro).toBe(/^NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1]);
    expect(facts.os.release).toBe(/^VERSION_ID="?([^"\n]*)"?$/m.exec(osRelease)?.[1]);
    expect(facts.os.arch).toBe(arch());
  });

  it("answers the second call from the cached OS facts with the same values", async () => {
    const a = await collectHostFacts();
    const b = await collectHostFacts();
    expect(b.os).toEqual(a.os);
  });
});
