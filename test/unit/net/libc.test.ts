import { afterEach, describe, expect, it, vi } from "vitest";

/** The FFI is optional: when koffi cannot be imported (npm install --omit=optional), nothing throws. */
describe("loadLibc", () => {
  afterEach(() => {
    vi.doUnmock("koffi");
    vi.resetModules();
  });

  it("gives null with a reason when koffi is not installed, and the socket falls back to dgram", async () => {
    vi.resetModules();
    vi.doMock("koffi", () => {
      throw new Error("Cannot find package 'koffi'");
    });
    const { loadLibc, libcUnavailableReason } = await import("../../../agent/net/libc.js");
    expect(await loadLibc()).toBeNull();
    expect(libcUnavailableReason()).toMatch(/^koffi unavailable: /);
    const { timestampMode } = await import("../../../agent/net/udp.js");
    expect(await timestampMode()).toBe("user");
  });

  it("binds libc functions on Linux and caches them per declaration", async () => {
    const { loadLibc } = await import("../../../agent/net/libc.js");
    const c = await loadLibc();
    if (process.platform !== "linux") {
      expect(c).toBeNull();
      return;
    }
    expect(c).not.toBeNull();
    const getpid = c?.func("int getpid()");
    expect(getpid?.()).toBe(process.pid);
    expect(c?.func("int getpid()")).toBe(getpid);
  });
});
