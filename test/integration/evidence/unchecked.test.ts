import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messageHash, seal } from "../../../agent/evidence/seal.js";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { DeviceKeys } from "../../../collector/evidence.js";
import { Ingest } from "../../../collector/ingest.js";
import { reportModelFromStore } from "../../../collector/report/from-store.js";
import { renderHtml } from "../../../collector/report/html.js";
import { renderJson } from "../../../collector/report/model.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { tempDir } from "../../helpers/control.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * Issue 11 (review): results whose site has no registered device key are NOT verified. The real
 * `qos-probe verify` CLI exits 1 naming those sites; the store counts per agent how many results had
 * their signature checked at ingest and how many were stored unchecked (no key / unsigned).
 */

const CLI = new URL("../../../dist/agent/cli.js", import.meta.url).pathname;
const run = promisify(execFile);
const START = Date.parse("2026-11-02T08:00:00.000Z");

function keyPair(): { priv: KeyObject; jwk: { kty: "OKP"; crv: "Ed25519"; x: string } } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  return { priv: privateKey, jwk: { kty: "OKP", crv: "Ed25519", x } };
}

/** `n` results of one site, sealed into a chain with `key` (as agent/evidence/chain.ts does). */
function chain(site: string, n: number, key: KeyObject | null): ResultMessage[] {
  let prev: string | null = null;
  const out: ResultMessage[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const m = makeResult({
      operator: "demo",
      site,
      seq,
      intervalStart: new Date(START + seq * 60_000).toISOString(),
    }) as unknown as Record<string, unknown>;
    if (!key) {
      out.push(m as unknown as ResultMessage);
      continue;
    }
    const sealed = seal(m, prev, key);
    prev = messageHash(sealed);
    out.push(sealed as unknown as ResultMessage);
  }
  return out;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const bj = keyPair();
const cd = keyPair();
const bjResults = chain("bj-demo-01", 3, bj.priv);
const cdResults = chain("cd-demo-01", 3, cd.priv);
const gzUnsigned = chain("gz-demo-01", 2, null);
const jsonl = (ms: readonly unknown[]) => `${ms.map((m) => JSON.stringify(m)).join("\n")}\n`;
const mesh = (sites: { id: string; device_key?: unknown }[]) =>
  `sites:\n${sites.map((s) => `  - id: ${s.id}\n${s.device_key ? `    device_key: ${JSON.stringify(s.device_key)}\n` : ""}`).join("")}`;

describe("qos-probe verify: results of a site without a registered key are not verified (real CLI)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  afterAll(async () => {
    await cleanup?.();
  });
  beforeAll(async () => {
    ({ path: dir, cleanup } = await tempDir());
    await writeFile(
      join(dir, "mesh-all.yaml"),
      mesh([
        { id: "bj-demo-01", device_key: bj.jwk },
        { id: "cd-demo-01", device_key: cd.jwk },
      ]),
    );
    await writeFile(
      join(dir, "mesh-bj.yaml"),
      mesh([{ id: "bj-demo-01", device_key: bj.jwk }, { id: "cd-demo-01" }, { id: "gz-demo-01" }]),
    );
  });

  it("an untouched export whose every site is keyed passes (exit 0)", async () => {
    const file = join(dir, "clean.jsonl");
    await writeFile(file, jsonl([...bjResults, ...cdResults]));
    const r = await cli(["verify", file, "--keys", join(dir, "mesh-all.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      `${file}: verified: 6 results, every signature valid, every chain unbroken`,
    );
  });

  it("a forged result of an unkeyed site, and unsigned ones, fail (exit 1) naming the sites", async () => {
    const forged = structuredClone(cdResults);
    const edited = forged[1] as ResultMessage & { rtt_ms: { mean: number }; sig: string };
    edited.rtt_ms.mean += 100;
    edited.sig = "A".repeat(86);
    const file = join(dir, "forged.jsonl");
    await writeFile(file, jsonl([...bjResults, ...forged, ...gzUnsigned]));
    const r = await cli(["verify", file, "--keys", join(dir, "mesh-bj.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `${file}: NOT verified: 5 of 8 results not checked (no registered device key)\n` +
        "signatures not checked: no device key registered for cd-demo-01, gz-demo-01 — register them in the mesh (sites[].device_key)\n" +
        "  cd-demo-01: 3 results not checked\n" +
        "  gz-demo-01: 2 results not checked\n",
    );
  });

  it("--help states the exit status for unchecked results", async () => {
    const r = await cli(["verify", "--help"]);
    expect(r.stdout).toContain(
      "some\n  results could not be checked because their site has no device key in --keys",
    );
  });
});

describe.each(backends)(
  "store evidence: signature-checked vs stored unchecked per agent ($name)",
  (backend) => {
    let store: ResultStore;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      await store.migrate();
    }, 60_000);
    afterAll(async () => {
      await dispose?.();
    });

    it("counts checked, no key and unsigned results, and the report shows them", async () => {
      const keys = new DeviceKeys([{ site: "bj-demo-01", device_key: bj.jwk }]);
      const ingest = new Ingest({ store, log: silentLogger(), deviceKeys: keys, groupCommit: true });
      const outcomes = await Promise.all(
        [...bjResults, ...cdResults, ...gzUnsigned].map((m) =>
          ingest.accept(resultTopic(m), JSON.stringify(m)),
        ),
      );
      await ingest.stop();
      expect(outcomes).toEqual(Array(8).fill("stored"));
      const model = await reportModelFromStore(store, {
        from_ms: START,
        to_ms: START + 3_600_000,
        period: "all",
        lang: "en",
        generated_at_ms: START + 3_600_000,
        sites: [],
        format: "json",
      });
      expect(model.evidence?.map((e) => [e.site, e.results, e.signed, e.checked, e.unchecked])).toEqual([
        ["bj-demo-01", 3, 3, 3, { no_key: 0, unsigned: 0 }],
        ["cd-demo-01", 3, 3, 0, { no_key: 3, unsigned: 0 }],
        ["gz-demo-01", 2, 0, 0, { no_key: 0, unsigned: 2 }],
      ]);
      expect(JSON.parse(renderJson(model)).evidence[1]).toMatchObject({
        site: "cd-demo-01",
        signed: 3,
        checked: 0,
        unchecked: { no_key: 3, unsigned: 0 },
      });
      const page = renderHtml(model);
      expect(page).toContain(
        "<th>signature checked</th><th>stored unchecked: no key registered / unsigned</th>",
      );
      expect([...page.matchAll(/data-testid="checked">(\d+)</g)].map((m) => m[1])).toEqual(["3", "0", "0"]);
      expect([...page.matchAll(/data-testid="unchecked">([^<]+)</g)].map((m) => m[1])).toEqual([
        "0 / 0",
        "3 / 0",
        "0 / 2",
      ]);
      const zh = renderHtml({ ...model, lang: "zh" } as typeof model);
      expect(zh).toContain("<th>签名已核验</th><th>未核验入库：未登记密钥 / 未签名</th>");
    }, 60_000);
  },
);
