import { generateKeyPairSync, type KeyObject } from "node:crypto";
import canonicalize from "canonicalize";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { messageHash, seal, sealedPayload } from "../../../agent/evidence/seal.js";
import { silentLogger } from "../../../agent/log.js";
import type { ResultMessage } from "../../../agent/publish/message.js";
import { chainHash, DeviceKeys, signatureChecked } from "../../../collector/evidence.js";
import { type AcceptOutcome, Ingest } from "../../../collector/ingest.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { validateResult } from "../../../collector/validate.js";
import { makeResult, resultTopic } from "../../helpers/result-factory.js";
import { backends, type TestBackend } from "../../helpers/store-backends.js";

/**
 * Issue 9: signatures covered by the hash chain. Within one batch an agent's results are cut into runs
 * of consecutive seqs whose links hold; only the last of a run has its signature verified, and on any
 * failure every result of the run is verified on its own (DeviceKeys.check, spied on here to count
 * the results that took the individual path). What is stored is counted as checked either way.
 */

// Every call of the RFC 8785 canonicalizer, counted (the fast path hashes the bytes received instead).
vi.mock("canonicalize", async (original) => {
  const real = ((await original()) as { default: (v: unknown) => string | undefined }).default;
  return { default: vi.fn(real) };
});
const canonicalizeCalls = () => (canonicalize as unknown as { mock: { calls: unknown[] } }).mock.calls.length;

const START = Date.parse("2026-11-02T08:00:00.000Z");
const SITE = "bj-demo-01";

function keyPair(): { priv: KeyObject; jwk: { kty: "OKP"; crv: "Ed25519"; x: string } } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  return { priv: privateKey, jwk: { kty: "OKP", crv: "Ed25519", x } };
}

/** Seqs 1..n of `site`, sealed into one chain with `key` (as agent/evidence/chain.ts does). */
function chain(n: number, key: KeyObject, site = SITE): ResultMessage[] {
  let prev: string | null = null;
  const out: ResultMessage[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const m = makeResult({
      operator: "demo",
      site,
      seq,
      intervalStart: new Date(START + seq * 60_000).toISOString(),
    }) as unknown as Record<string, unknown>;
    const sealed = seal(m, prev, key);
    prev = messageHash(sealed);
    out.push(sealed as unknown as ResultMessage);
  }
  return out;
}

/** The same message with the RTT mean changed after sealing (a relay "improving" a figure). */
function altered(m: ResultMessage): ResultMessage {
  return { ...m, rtt_ms: { ...m.rtt_ms, mean: 0.001 } };
}

/** The same message with a well-formed signature by another key over its own signed bytes. */
function forged(m: ResultMessage): ResultMessage {
  const { sig: _sig, prev, ...rest } = m as ResultMessage & { prev: string | null };
  return seal(rest as unknown as Record<string, unknown>, prev, keyPair().priv) as unknown as ResultMessage;
}

const agentKey = keyPair();
const otherKey = keyPair();
const registered = () =>
  new DeviceKeys([
    { site: SITE, operator: "demo", device_key: agentKey.jwk },
    { site: "sh-demo-01", operator: "demo", device_key: otherKey.jwk },
  ]);
const BAD_SIG = (seq: number) =>
  `evidence: signature of seq ${seq} from demo/${SITE} does not verify with its registered device key (altered in transit, or signed by another key)`;

/** checkBatch's reasons, the seqs DeviceKeys.check saw (the individual path) and which are checked. */
function checkBatch(msgs: readonly ResultMessage[]) {
  const keys = registered();
  const check = vi.spyOn(keys, "check");
  const reasons = keys.checkBatch(msgs);
  return {
    reasons,
    individually: check.mock.calls.map(([m]) => m.seq).sort((a, b) => a - b),
    checked: msgs.map((m) => signatureChecked(m)),
  };
}

describe("DeviceKeys.checkBatch: one signature per unbroken run of the chain", () => {
  it("an intact chain of six: no result verified on its own, all six authenticated", () => {
    const r = checkBatch(chain(6, agentKey.priv));
    expect(r.reasons).toEqual([null, null, null, null, null, null]);
    expect(r.individually).toEqual([]);
    expect(r.checked).toEqual([true, true, true, true, true, true]);
  });

  it("an altered middle result: it is rejected; its run is verified one by one, the next run by its last", () => {
    const msgs = chain(6, agentKey.priv);
    msgs[2] = altered(msgs[2] as ResultMessage);
    const r = checkBatch(msgs);
    expect(r.reasons).toEqual([null, null, BAD_SIG(3), null, null, null]);
    // Seq 4's prev no longer matches seq 3: runs 1–3 and 4–6. Seq 3's signature fails, so 1, 2 and 3
    // are verified on their own; 4–6 are covered by seq 6's signature.
    expect(r.individually).toEqual([1, 2, 3]);
    expect(r.checked).toEqual([true, true, false, true, true, true]);
  });

  it("a forged last signature: every result of the run is verified on its own, only the forged one fails", () => {
    const msgs = chain(6, agentKey.priv);
    msgs[5] = forged(msgs[5] as ResultMessage);
    const r = checkBatch(msgs);
    expect(r.reasons).toEqual([null, null, null, null, null, BAD_SIG(6)]);
    expect(r.individually).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.checked).toEqual([true, true, true, true, true, false]);
  });

  it("out-of-order arrival: sorted by seq, the chain still covers all", () => {
    const msgs = chain(6, agentKey.priv);
    const shuffled = [3, 0, 5, 1, 4, 2].map((i) => msgs[i] as ResultMessage);
    const r = checkBatch(shuffled);
    expect(r.reasons).toEqual([null, null, null, null, null, null]);
    expect(r.individually).toEqual([]);
    expect(r.checked.every(Boolean)).toBe(true);
  });

  it("a seq missing from the batch ends a run; a lone result and a repeated seq are verified on their own", () => {
    const msgs = chain(6, agentKey.priv);
    // Seq 4 not here; seq 2 twice (a redelivery in the same batch).
    const batch = [msgs[0], msgs[1], msgs[1], msgs[2], msgs[4], msgs[5]] as ResultMessage[];
    const r = checkBatch(batch.map((m) => ({ ...m })));
    expect(r.reasons).toEqual([null, null, null, null, null, null]);
    // Runs: 1 (alone: its successor 2 is repeated, verified apart), 2, 2, 3 (alone), 5–6 (covered).
    expect(r.individually).toEqual([1, 2, 2, 3]);
    expect(r.checked.every(Boolean)).toBe(true);
  });

  it("an unsigned result from a keyed site, and a site with no key, keep check's answers", () => {
    const unsigned = makeResult({ operator: "demo", site: SITE, seq: 9 });
    const other = makeResult({ operator: "demo", site: "gz-demo-01", seq: 1 });
    const r = checkBatch([...chain(2, agentKey.priv), unsigned, other]);
    expect(r.reasons).toEqual([
      null,
      null,
      `evidence: unsigned result (seq 9) from demo/${SITE}, which has a registered device key`,
      null,
    ]);
    expect(r.checked).toEqual([true, true, false, false]);
  });
});

describe("DeviceKeys.checkBatch on the bytes received (the agent publishes RFC 8785 bytes)", () => {
  /** Each message as the collector gets it: validated from `bytes(m)`. */
  const received = (msgs: readonly ResultMessage[], bytes: (m: ResultMessage) => Buffer) =>
    msgs.map((m) => {
      const v = validateResult(resultTopic(m), bytes(m));
      if (!v.ok) throw new Error(v.reason);
      return v.message;
    });

  it("agent-published bytes: the links and the last signature are checked without canonicalizing", () => {
    const msgs = received(chain(6, agentKey.priv), (m) => sealedPayload(m as never).bytes);
    const before = canonicalizeCalls();
    const r = checkBatch(msgs);
    expect(canonicalizeCalls() - before).toBe(0);
    expect(r.reasons).toEqual([null, null, null, null, null, null]);
    expect(r.individually).toEqual([]);
    expect(r.checked).toEqual([true, true, true, true, true, true]);
    // The stored digests are the chain's (seal.ts messageHash), whichever way they were computed.
    const sealed = chain(2, agentKey.priv);
    const [one, two] = received(sealed, (m) => sealedPayload(m as never).bytes) as [
      ResultMessage,
      ResultMessage,
    ];
    registered().checkBatch([one, two]);
    expect(chainHash(one)).toBe(messageHash(sealed[0] as never));
    expect(chainHash(two)).toBe(messageHash(sealed[1] as never));
  });

  it("re-serialized on the way (JSON.stringify order): the same results verify on the slow path", () => {
    const msgs = received(chain(6, agentKey.priv), (m) => Buffer.from(JSON.stringify(m)));
    const before = canonicalizeCalls();
    const r = checkBatch(msgs);
    // Five links judged on the RFC 8785 form, and the last signature on it.
    expect(canonicalizeCalls() - before).toBe(6);
    expect(r.reasons).toEqual([null, null, null, null, null, null]);
    expect(r.individually).toEqual([]);
    expect(r.checked).toEqual([true, true, true, true, true, true]);
  });

  it("agent-published bytes with an altered middle result: rejected as on the slow path, neighbours checked", () => {
    const sealed = chain(6, agentKey.priv);
    const msgs = received(sealed, (m) =>
      m.seq === 3 ? Buffer.from(canonicalize(altered(m)) as string) : sealedPayload(m as never).bytes,
    );
    const r = checkBatch(msgs);
    expect(r.reasons).toEqual([null, null, BAD_SIG(3), null, null, null]);
    expect(r.individually).toEqual([1, 2, 3]);
    expect(r.checked).toEqual([true, true, false, true, true, true]);
  });
});

describe("Ingest with chain-covered verification, on PostgreSQL", () => {
  let store: ResultStore;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const opened = await (backends.find((b) => b.name === "postgres") as TestBackend).open();
    store = opened.store;
    dispose = opened.dispose;
    await store.migrate();
  }, 60_000);

  afterAll(async () => {
    await dispose?.();
  });

  /** Deliver all in one event-loop turn (one socket read), as the subscriber does; outcomes in order. */
  async function deliver(msgs: readonly ResultMessage[]): Promise<AcceptOutcome[]> {
    const ingest = new Ingest({ store, log: silentLogger(), deviceKeys: registered(), groupCommit: true });
    ingest.start();
    const outcomes = msgs.map((m) => ingest.accept(resultTopic(m), JSON.stringify(m)));
    const settled = await Promise.all(outcomes);
    await ingest.stop();
    return settled;
  }

  const evidence = async (site: string) =>
    (
      await store.queryEvidence({ from: new Date(START - 86_400_000), to: new Date(START + 86_400_000) })
    ).find((e) => e.site === site);

  it("an altered middle result is rejected with the signature reason; its neighbours are stored and counted as checked", async () => {
    const genuine = chain(6, agentKey.priv);
    const msgs = [...genuine];
    msgs[2] = altered(msgs[2] as ResultMessage);
    expect(await deliver(msgs)).toEqual(["stored", "stored", "rejected", "stored", "stored", "stored"]);
    const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 3_600_000) });
    expect(rejects.map((r) => r.reason)).toEqual([BAD_SIG(3)]);
    const ev = await evidence(SITE);
    expect([ev?.results, ev?.signed, ev?.checked, ev?.first_seq, ev?.last_seq]).toEqual([5, 5, 5, 1, 6]);
    expect(ev?.breaks.map((b) => [b.seq, b.kind])).toEqual([[4, "missing"]]);

    // The genuine seq 3 arrives later, alone: verified on its own, stored, checked; the chain is whole.
    expect(await deliver([genuine[2] as ResultMessage])).toEqual(["stored"]);
    const whole = await evidence(SITE);
    expect([whole?.results, whole?.signed, whole?.checked, whole?.breaks.length]).toEqual([6, 6, 6, 0]);
    expect(whole?.head).toBe(messageHash(genuine[5] as unknown as Record<string, unknown>));
  });

  it("out of order with a forged last signature: the five genuine stored and checked, the forged one rejected", async () => {
    const msgs = chain(6, otherKey.priv, "sh-demo-01");
    msgs[5] = forged(msgs[5] as ResultMessage);
    const order = [4, 0, 5, 2, 1, 3];
    const outcomes = await deliver(order.map((i) => msgs[i] as ResultMessage));
    expect(outcomes).toEqual(["stored", "stored", "rejected", "stored", "stored", "stored"]);
    const rejects = await store.queryRejects({ from: new Date(0), to: new Date(Date.now() + 3_600_000) });
    expect(rejects.map((r) => r.reason)).toContain(
      "evidence: signature of seq 6 from demo/sh-demo-01 does not verify with its registered device key (altered in transit, or signed by another key)",
    );
    const ev = await evidence("sh-demo-01");
    expect([ev?.results, ev?.signed, ev?.checked, ev?.first_seq, ev?.last_seq, ev?.breaks.length]).toEqual([
      5, 5, 5, 1, 5, 0,
    ]);
  });
});
