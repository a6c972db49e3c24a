import { describe, expect, it } from "vitest";
import { formatTarget, parseListen, parseTarget } from "../../../agent/probe/target.js";

describe("parseTarget", () => {
  it("defaults STAMP to the well-known port 862", () => {
    expect(parseTarget("stamp://192.0.2.10")).toEqual({ method: "stamp", host: "192.0.2.10", port: 862 });
  });
  it("unbrackets IPv6 literals and keeps the port", () => {
    expect(parseTarget("stamp://[2001:db8::1]:8620")).toEqual({
      method: "stamp",
      host: "2001:db8::1",
      port: 8620,
    });
  });
  it("parses icmp and tcp", () => {
    expect(parseTarget("icmp://127.0.0.1")).toEqual({ method: "icmp", host: "127.0.0.1" });
    expect(parseTarget("tcp://example.test:443")).toEqual({ method: "tcp", host: "example.test", port: 443 });
  });
  it("keeps the URL for http(s) and fills the default port", () => {
    expect(parseTarget("https://example.test/health")).toEqual({
      method: "http",
      host: "example.test",
      port: 443,
      url: "https://example.test/health",
    });
  });
  it("refuses what a method cannot use, with a hint", () => {
    expect(() => parseTarget("icmp://127.0.0.1:80")).toThrow(/ICMP has no ports/);
    expect(() => parseTarget("tcp://127.0.0.1")).toThrow(/tcp target needs a port/);
    expect(() => parseTarget("ftp://x")).toThrow(/unknown target scheme "ftp:"/);
    expect(() => parseTarget("127.0.0.1")).toThrow(/not a target URL/);
  });
  it("names a port over 65535 instead of calling the URL malformed", () => {
    for (const t of ["stamp://127.0.0.1:99999", "tcp://[2001:db8::20]:70000/"]) {
      const port = t.includes("99999") ? "99999" : "70000";
      expect(() => parseTarget(t)).toThrow(
        expect.objectContaining({
          code: "PROBE_TARGET",
          message: `port ${port} in "${t}" is not a UDP/TCP port (1–65535)`,
        }),
      );
    }
    expect(() => parseTarget("stamp://127.0.0.1:65535")).not.toThrow();
  });
  it("refuses port 0 and prints IPv6 hints in brackets, as URLs the CLI accepts again", () => {
    expect(() => parseTarget("stamp://127.0.0.1:0")).toThrow(
      expect.objectContaining({
        code: "PROBE_TARGET",
        message: 'port 0 in "stamp://127.0.0.1:0" is not a port a probe can send to',
        hint: "give the port the target listens on, e.g. stamp://127.0.0.1:862",
      }),
    );
    const hintOf = (t: string) => {
      try {
        parseTarget(t);
      } catch (err) {
        return (err as { hint?: string }).hint;
      }
      return undefined;
    };
    expect(hintOf("tcp://[2001:db8::20]")).toBe("use tcp://[2001:db8::20]:PORT");
    expect(hintOf("icmp://[::1]:7")).toBe("use icmp://[::1]");
    expect(parseTarget("icmp://[::1]")).toEqual({ method: "icmp", host: "::1" });
    expect(parseTarget("tcp://[2001:db8::20]:443")).toEqual({
      method: "tcp",
      host: "2001:db8::20",
      port: 443,
    });
  });
  it("formats back to the canonical form", () => {
    expect(formatTarget(parseTarget("stamp://[2001:db8::1]"))).toBe("stamp://[2001:db8::1]:862");
    expect(formatTarget(parseTarget("icmp://127.0.0.1"))).toBe("icmp://127.0.0.1");
  });
});

describe("parseListen", () => {
  it("reads IPv4, bracketed IPv6 and bare ports", () => {
    expect(parseListen("0.0.0.0:862")).toEqual({ host: "0.0.0.0", port: 862 });
    expect(parseListen("[::]:8620")).toEqual({ host: "::", port: 8620 });
    expect(parseListen(":862")).toEqual({ host: "0.0.0.0", port: 862 });
  });
  it("refuses what is not HOST:PORT", () => {
    expect(() => parseListen("862")).toThrow(/not a listen address/);
    expect(() => parseListen("127.0.0.1:70000")).toThrow(/not a listen address/);
  });
});
