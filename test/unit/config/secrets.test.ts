import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveSecret } from "../../../agent/config/secrets.js";
import type { QosProbeError } from "../../../agent/errors.js";

const dir = mkdtempSync(join(tmpdir(), "qos-probe-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe("resolveSecret", () => {
  it("reads a file, dropping exactly one trailing newline (LF or CRLF)", () => {
    expect(resolveSecret({ file: write("lf", "s3cret\n") }).toString()).toBe("s3cret");
    expect(resolveSecret({ file: write("crlf", "s3cret\r\n") }).toString()).toBe("s3cret");
    expect(resolveSecret({ file: write("two", "s3cret\n\n") }).toString()).toBe("s3cret\n");
  });
  it("keeps binary key bytes as they are", () => {
    const key = Buffer.from([0x00, 0xff, 0x10, 0x0d]);
    expect(resolveSecret({ file: write("bin", key) })).toEqual(key);
  });
  it("reads an environment variable", () => {
    expect(resolveSecret({ env: "K" }, { K: "abc" })).toEqual(Buffer.from("abc"));
  });
  it("fails with CONFIG_SECRET naming the reference, never a value", () => {
    const fail = (fn: () => unknown): QosProbeError => {
      try {
        fn();
      } catch (err) {
        return err as QosProbeError;
      }
      throw new Error("expected a failure");
    };
    const unset = fail(() => resolveSecret({ env: "K" }, { K: "" }));
    expect([unset.code, unset.message]).toEqual([
      "CONFIG_SECRET",
      "secret environment variable K is not set",
    ]);
    const missing = fail(() => resolveSecret({ file: join(dir, "nope") }));
    expect([missing.code, missing.message]).toEqual([
      "CONFIG_SECRET",
      `cannot read secret file ${join(dir, "nope")} (ENOENT)`,
    ]);
    const empty = fail(() => resolveSecret({ file: write("empty", "\n") }));
    expect(empty.message).toBe(`secret file ${join(dir, "empty")} is empty`);
  });
});
