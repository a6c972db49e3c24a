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

describe("decodeKey (STAMP key files)", () => {
  it("reads hex as bytes and anything else byte for byte", async () => {
    const { decodeKey } = await import("../../../agent/config/secrets.js");
    // `openssl rand -hex 16` style: 32 hex digits → 16 bytes.
    expect(decodeKey(Buffer.from("00112233445566778899aabbccddeeff\n"))).toEqual(
      Buffer.from([
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
      ]),
    );
    expect(decodeKey(Buffer.from("correct horse battery staple"))).toEqual(
      Buffer.from("correct horse battery staple"),
    );
    expect(() => decodeKey(Buffer.alloc(0))).toThrow(/key file is empty/);
  });
});

describe("readKeyFile (--auth-key-file)", () => {
  it("gives the key a configuration's { file } reference gives for the same file", async () => {
    const { decodeKey, readKeyFile } = await import("../../../agent/config/secrets.js");
    // `echo 'correct horse' > k`: a raw key with its newline, shared by `qos-probe reflect
    // --auth-key-file k` and an agent whose stamp_key is { file: k }.
    for (const [name, text] of [
      ["raw-lf", "correct horse battery staple\n"],
      ["raw-crlf", "correct horse battery staple\r\n"],
      ["hex-lf", "00112233445566778899aabbccddeeff\n"],
    ] as const) {
      const path = write(name, text);
      const cli = await readKeyFile(path);
      expect(cli, name).toEqual(decodeKey(resolveSecret({ file: path })));
      expect(cli.includes(0x0a), name).toBe(false);
    }
    expect((await readKeyFile(write("raw2", "correct horse\n"))).toString()).toBe("correct horse");
  });
  it("names the empty file and says how to fill it", async () => {
    const { readKeyFile } = await import("../../../agent/config/secrets.js");
    for (const content of ["", "\n"]) {
      const path = write("empty-key", content);
      const err = await readKeyFile(path).then(
        () => undefined,
        (e: QosProbeError) => e,
      );
      expect(err?.code).toBe("CONFIG_SECRET");
      expect(err?.message).toBe(`key file ${path} is empty`);
      expect(err?.hint).toContain("openssl rand -hex 32 > FILE");
    }
  });
});
