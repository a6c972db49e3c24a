import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { seal } from "../../../agent/evidence/seal.js";
import { ResultMessage } from "../../../agent/publish/message.js";
import { checkResultSchema } from "../../../collector/validate.js";
import { makeResult } from "../../helpers/result-factory.js";

/**
 * The collector checks results with Ajv compiled from zod's JSON Schema (validate.ts) and asks zod only
 * for the reason of a refusal: the two must agree. Every leaf and object of a few valid messages is
 * mutated (removed, nulled, retyped, out of range, an unknown key added) and both verdicts compared.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function bases(): Json[] {
  const plain = makeResult();
  const failed = makeResult({ seq: 7 });
  failed.status = "fault";
  failed.error = { code: "STAMP_HMAC", message: "HMAC mismatch" };
  failed.quality.flags = ["aborted", "host-timing"];
  failed.one_way_ms = {
    forward: { min: 1, mean: 2, max: 3, max_minus_min: 2 },
    reverse: { min: null, mean: null, max: null, max_minus_min: null },
    clock_synced: false,
  };
  const { privateKey } = generateKeyPairSync("ed25519");
  const sealed = seal(makeResult() as unknown as Record<string, unknown>, null, privateKey);
  return [plain, failed, sealed].map((m) => JSON.parse(JSON.stringify(m)) as Json);
}

/** Every mutation of `root`: at each path, the value replaced by others or removed, and extra keys. */
function* mutations(root: Json): Generator<Json> {
  const replacements: Json[] = [
    null,
    "x",
    "",
    -1,
    0,
    1.5,
    2 ** 60,
    true,
    {},
    [],
    ["x"],
    "2026-13-01T00:00:00Z",
  ];
  function* walk(path: (string | number)[], value: Json): Generator<Json> {
    for (const r of replacements) yield setAt(root, path, r);
    if (path.length > 0) yield setAt(root, path, undefined);
    if (Array.isArray(value))
      for (let i = 0; i < value.length; i++) yield* walk([...path, i], value[i] as Json);
    else if (value !== null && typeof value === "object") {
      yield setAt(root, [...path, "unexpected"], 1);
      for (const [k, v] of Object.entries(value)) yield* walk([...path, k], v);
    }
  }
  yield* walk([], root);
}

function setAt(root: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return value === undefined ? null : value;
  let node = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

describe("Ajv's compiled result schema", () => {
  it("accepts what zod accepts and refuses what zod refuses, over every mutation of valid messages", () => {
    let accepted = 0;
    let refused = 0;
    const disagreements: string[] = [];
    for (const base of bases()) {
      expect(checkResultSchema(base)).toBe(true);
      for (const body of mutations(base)) {
        const zod = ResultMessage.safeParse(body).success;
        if (checkResultSchema(body) !== zod)
          disagreements.push(`zod ${zod}: ${JSON.stringify(body).slice(0, 300)}`);
        if (zod) accepted += 1;
        else refused += 1;
      }
    }
    expect(disagreements).toEqual([]);
    // The corpus holds both kinds, many of each (not a vacuous agreement).
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(1000);
  });
});
