import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/cli-run.js";

/**
 * `qos-probe test stamp://… -s 28` reported 28 B while 72 went on the wire, and `-s 9300` was dropped
 * by the reflector: both are usage errors now (exit 2, nothing sent), and `validate` refuses the same
 * sizes at the test's YAML path with the hint naming both modes' minimum.
 */

const HINT =
  "use at least 72 bytes unauthenticated or 140 authenticated (IPv6: 92 / 160), and at most 9244 (IPv6: 9264)";

describe("qos-probe test / validate: STAMP packet sizes", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "qosprobe-stampsize-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("-s 28 is a usage error naming the smallest STAMP packet, not a run that reports 28 B", async () => {
    const r = await runCli(["test", "stamp://127.0.0.1:9", "-s", "28", "-c", "1"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "qos-probe: -s 28: packet_size_bytes 28 is below the smallest unauthenticated STAMP test packet over IPv4 " +
        `(72 bytes: 44 STAMP + 28 IP and UDP headers)\n  hint: ${HINT}\n`,
    );
  });

  it("-s 9300 (over the reflector's 9216-byte datagram) is a usage error, also with --json", async () => {
    const r = await runCli(["test", "stamp://127.0.0.1:9", "-s", "9300", "-c", "1", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: "USAGE",
        message:
          "-s 9300: packet_size_bytes 9300 is above the largest STAMP test packet a reflector takes over IPv4 " +
          "(9244 bytes: a 9216-byte datagram + 28 IP and UDP headers)",
        hint: HINT,
      },
    });
  });

  it("with --auth-key-file the authenticated minimum applies; over IPv6 the IPv6 one", async () => {
    const key = join(dir, "k.hex");
    await writeFile(key, "00112233445566778899aabbccddeeff\n");
    const auth = await runCli(["test", "stamp://127.0.0.1:9", "-s", "128", "--auth-key-file", key]);
    expect(auth.code).toBe(2);
    expect(auth.stderr).toContain(
      "-s 128: packet_size_bytes 128 is below the smallest authenticated STAMP test packet over IPv4 (140 bytes",
    );
    const v6 = await runCli(["test", "stamp://[::1]:9", "-s", "80"]);
    expect(v6.code).toBe(2);
    expect(v6.stderr).toContain(
      "is below the smallest unauthenticated STAMP test packet over IPv6 (92 bytes",
    );
  });

  it("ICMP sizes ping cannot send are usage errors too (exit 2, no ping spawned), per family", async () => {
    const v4 = await runCli(["test", "icmp://127.0.0.1", "-s", "30", "-c", "1"]);
    expect(v4.code).toBe(2);
    expect(v4.stdout).toBe("");
    expect(v4.stderr).toBe(
      "qos-probe: -s 30: packet_size_bytes 30 does not fit an IPv4 ICMP echo (44..65535)\n" +
        "  hint: ping needs 16 payload bytes to time a reply; choose 44..65535\n",
    );
    const v6 = await runCli(["test", "icmp://[::1]", "-s", "60", "-c", "1"]);
    expect(v6.code).toBe(2);
    expect(v6.stderr).toContain("packet_size_bytes 60 does not fit an IPv6 ICMP echo (64..");
  });

  it("validate names the YAML path, the limit and the hint (exit 1)", async () => {
    const file = join(dir, "mesh.yaml");
    await writeFile(
      file,
      `version: 1
agent: { site: bj-01 }
sites:
  - { id: bj-01, operator: op, province: "110000", reflector: { host: 192.0.2.10 } }
  - { id: gz-01, operator: op, province: "440000", reflector: { host: 192.0.2.20 } }
tests:
  - { id: small, method: stamp, from: bj-01, to: gz-01, packet_size_bytes: 28, continuous: { interval_s: 60 } }
  - { id: large, method: stamp, from: bj-01, to: gz-01, packet_size_bytes: 9300, continuous: { interval_s: 60 } }
`,
    );
    const r = await runCli(["validate", file]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.includes("packet_size_bytes"))).toEqual([
      `${file}: tests[0].packet_size_bytes: packet_size_bytes 28 is below the smallest unauthenticated STAMP test packet over IPv4 (72 bytes: 44 STAMP + 28 IP and UDP headers) at line 7:76 (${HINT})`,
      `${file}: tests[1].packet_size_bytes: packet_size_bytes 9300 is above the largest STAMP test packet a reflector takes over IPv4 (9244 bytes: a 9216-byte datagram + 28 IP and UDP headers) at line 8:76 (${HINT}; a test without family is checked as IPv4 (family: 6 for IPv6 sizes))`,
    ]);
  });
});
