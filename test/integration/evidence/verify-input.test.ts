import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messageHash, seal } from "../../../agent/evidence/seal.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { runCli } from "../../helpers/cli-run.js";
import { tempDir } from "../../helpers/control.js";
import { makeResult } from "../../helpers/result-factory.js";

/**
 * `qos-probe verify` papercuts (review): a pretty-printed JSON input was "not JSON" on every line; an
 * altered record (present, wrong hash) was reported as "seq N not received"; an empty file passed
 * (exit 0). Run through the real CLI.
 */

const START = Date.parse("2026-11-02T08:00:00.000Z");
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const { x } = publicKey.export({ format: "jwk" }) as { x: string };

/** Results 1..n of one site, sealed into a chain as the agent does (agent/evidence/chain.ts). */
function chain(n: number, key: KeyObject): ResultMessage[] {
  let prev: string | null = null;
  const out: ResultMessage[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const m = makeResult({
      operator: "demo",
      site: "bj-demo-01",
      seq,
      intervalStart: new Date(START + seq * 60_000).toISOString(),
    }) as unknown as Record<string, unknown>;
    const sealed = seal(m, prev, key);
    prev = messageHash(sealed);
    out.push(sealed as unknown as ResultMessage);
  }
  return out;
}

const results = chain(6, privateKey);
const jsonl = (ms: readonly unknown[]) => `${ms.map((m) => JSON.stringify(m)).join("\n")}\n`;

describe("qos-probe verify: input formats, altered vs missing, empty input (real CLI)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let keys: string;
  beforeAll(async () => {
    ({ path: dir, cleanup } = await tempDir());
    keys = join(dir, "mesh.yaml");
    await writeFile(
      keys,
      `sites:\n  - id: bj-demo-01\n    device_key: ${JSON.stringify({ kty: "OKP", crv: "Ed25519", x })}\n`,
    );
  });
  afterAll(async () => {
    await cleanup?.();
  });

  const verify = async (name: string, body: string) => {
    const file = join(dir, name);
    await writeFile(file, body);
    return { file, ...(await runCli(["verify", file, "--keys", keys])) };
  };

  it("JSON Lines and a pretty-printed JSON array pass (exit 0)", async () => {
    for (const [name, body] of [
      ["clean.jsonl", jsonl(results)],
      ["pretty-array.json", `${JSON.stringify(results, null, 2)}\n`],
    ] as const) {
      const r = await verify(name, body);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split("\n")[0]).toBe(
        `${r.file}: verified: 6 results, every signature valid, every chain unbroken`,
      );
    }
  });

  it("a single pretty-printed result passes as one record", async () => {
    const r = await verify("one.json", `${JSON.stringify(results[0], null, 2)}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      `${r.file}: verified: 1 results, every signature valid, every chain unbroken`,
    );
  });

  it("pretty-printed results one after another (jq . output): one error naming the file and JSON Lines", async () => {
    const body = results.map((m) => JSON.stringify(m, null, 2)).join("\n");
    const r = await verify("pretty-stream.json", `${body}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${r.file}: NOT verified: not JSON Lines: a JSON value spans lines 1–${body.split("\n").indexOf("}") + 1}; ` +
        "verify reads one result message per line (JSON Lines), as qos-probe report --format results writes, or one JSON array " +
        `(jq -c . ${r.file} turns pretty-printed results into JSON Lines)\n`,
    );
    expect(r.stderr).not.toContain("not JSON (");
  });

  it("an altered record is named as altered (present, signature fails; the next one's prev mismatches), not as missing", async () => {
    const edited = structuredClone(results);
    (edited[3] as ResultMessage).rtt_ms = { ...(edited[3] as ResultMessage).rtt_ms, mean: 0.001 };
    const r = await verify("altered.jsonl", jsonl(edited));
    const [m4, m5] = [edited[3] as ResultMessage, edited[4] as ResultMessage];
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${r.file}: NOT verified: 2 problem(s)\n` +
        `${r.file}:4: demo/bj-demo-01 seq 4 id ${m4.id}: altered: present, but signature of seq 4 from demo/bj-demo-01 does not verify with its registered device key (altered in transit, or signed by another key)\n` +
        `${r.file}:5: demo/bj-demo-01 seq 5 id ${m5.id}: chain break: prev of seq 5 is not the digest of seq 4, which is present but altered\n`,
    );
    expect(r.stderr).not.toContain("not received");
  });

  it("a deleted record is named as missing (a seq gap)", async () => {
    const r = await verify("deleted.jsonl", jsonl(results.filter((m) => m.seq !== 3)));
    const m4 = results[3] as ResultMessage;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${r.file}: NOT verified: 1 problem(s)\n` +
        `${r.file}:3: demo/bj-demo-01 seq 4 id ${m4.id}: chain break: missing: seq 3 is not in the export (a seq gap between seq 2 and 4)\n`,
    );
  });

  it("an empty file, or an empty array, exits 1 with 'no records in FILE'", async () => {
    for (const [name, body] of [
      ["empty.jsonl", ""],
      ["blank.jsonl", "\n \n"],
      ["empty-array.json", "[]\n"],
    ] as const) {
      const r = await verify(name, body);
      expect(r.code, name).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`${r.file}: NOT verified: no records in ${r.file}\n`);
    }
  });
});
