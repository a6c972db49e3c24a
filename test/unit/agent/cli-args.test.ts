import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { duration, exitCodeFor, int, jsonError, nonNegative } from "../../../agent/cli-args.js";
import { MIN_NODE, nodeVersionProblem } from "../../../agent/node-guard.js";

describe("CLI flag parsers", () => {
  it("reads durations with ms / s / m suffixes, a bare number in the option's own unit", () => {
    const ms = duration("ms");
    expect([ms("20ms"), ms("1s"), ms("0.5s"), ms("2m"), ms("200"), ms(" 15 ms ")]).toEqual([
      20, 1000, 500, 120_000, 200, 15,
    ]);
    const s = duration("s", { out: "s", allowZero: true });
    expect([s("0"), s("60"), s("5m"), s("1500ms")]).toEqual([0, 60, 300, 1.5]);
    expect(() => ms("0")).toThrow(/positive duration like 20ms/);
    expect(() => ms("20 parsecs")).toThrow(/a bare number is milliseconds\), got "20 parsecs"/);
    expect(() => s("-1")).toThrow(/a bare number is seconds/);
  });

  it("takes 0 where help says 0 means off, and whole numbers in range only", () => {
    expect(nonNegative("0")).toBe(0);
    expect(nonNegative("250")).toBe(250);
    expect(() => nonNegative("-5")).toThrow(/0 = off/);
    expect(int(0, 65535)("0")).toBe(0);
    expect(() => int(1, 10)("1.5")).toThrow(/whole number from 1 to 10/);
    expect(() => int(1, 10)("")).toThrow(/whole number/);
  });

  it("exits 2 for usage errors and bad targets, 1 otherwise; --json errors are one JSON line", () => {
    expect(exitCodeFor({ code: "USAGE" })).toBe(2);
    expect(exitCodeFor({ code: "PROBE_TARGET" })).toBe(2);
    expect(exitCodeFor({ code: "commander.invalidArgument" })).toBe(2);
    expect(exitCodeFor({ code: "PROBE_SETUP" })).toBe(1);
    expect(JSON.parse(jsonError({ code: "PROBE_TARGET", message: "m", hint: "h" }))).toEqual({
      error: { code: "PROBE_TARGET", message: "m", hint: "h" },
    });
  });
});

describe("Node.js version check", () => {
  it("names the real minimum for Node 18 and 20.14, passes 20.15 and newer", () => {
    expect(nodeVersionProblem("18.19.0")).toBe(
      "qos-probe needs Node.js >= 20.15.0, this is Node.js 18.19.0\n" +
        "  hint: install Node.js 20 LTS or newer (e.g. from the NodeSource or nodejs.org packages; " +
        "Debian bookworm's own nodejs package is 18)\n",
    );
    expect(nodeVersionProblem("v20.14.9")).toMatch(
      /^qos-probe needs Node.js >= 20.15.0, this is Node.js 20.14.9/,
    );
    expect(nodeVersionProblem("20.15.0")).toBeUndefined();
    expect(nodeVersionProblem("20.20.2")).toBeUndefined();
    expect(nodeVersionProblem("22.1.0")).toBeUndefined();
    expect(nodeVersionProblem(process.versions.node)).toBeUndefined();
  });

  it("agrees with package.json engines.node", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE.replace(/\.0$/, "")}`);
  });
});
