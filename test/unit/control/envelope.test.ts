import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configHash, parseConfig } from "../../../agent/config/load.js";
import { keygen, sign, verify } from "../../../agent/control/config-cli.js";
import { EnvelopeRejected, verifyEnvelope } from "../../../agent/control/envelope.js";
import { effectiveConfig } from "../../../agent/control/merge.js";
import { bootstrap, envelope, makeKey, mesh } from "../../helpers/control.js";

describe("config envelope (JWS, EdDSA)", () => {
  it("round-trips: version, issue time, YAML bytes, hash and the signer's RFC 7638 key id", async () => {
    const A = await makeKey();
    const yaml = mesh(61);
    const v = await verifyEnvelope(await envelope(A, 9, yaml, 1_764_500_000), [A.pub]);
    expect(v.config_version).toBe(9);
    expect(v.issued_at_ms).toBe(1_764_500_000_000);
    expect(v.yaml.toString()).toBe(yaml);
    expect(v.hash).toBe(configHash(yaml));
    expect(v.kid).toBe(A.pub.kid);
    expect(v.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses alg "none", a foreign typ and a non-JWS with the reason code', async () => {
    const A = await makeKey();
    const good = await envelope(A, 1, mesh(61));
    const [, payload] = good.split(".");
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const cases: [string, string][] = [
      [`${b64({ alg: "none", kid: A.pub.kid, typ: "qosprobe-config+jws" })}.${payload}.`, "malformed"],
      [`${b64({ alg: "EdDSA", kid: A.pub.kid, typ: "JWT" })}.${payload}.${good.split(".")[2]}`, "malformed"],
      ["not a jws", "malformed"],
    ];
    for (const [text, code] of cases) {
      const err = await verifyEnvelope(text, [A.pub]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnvelopeRejected);
      expect((err as EnvelopeRejected).code).toBe(code);
    }
  });

  it("keeps the local sections: a mesh cannot move the agent, its broker or its pinned keys", async () => {
    const A = await makeKey();
    const evil = await makeKey();
    const local = parseConfig(
      bootstrap({ site: "gz-op-01", dataDir: "/tmp/qp", brokerUrl: "mqtt://127.0.0.1:1883", keys: [A.pub] }),
      "local.yaml",
      {},
    );
    const pushed =
      mesh(61).replace(
        `agent: { site: "\${QOSPROBE_SITE:-bj-op-01}" }`,
        "agent: { site: bj-op-01, data_dir: /etc }",
      ) +
      `mqtt: { url: "mqtt://198.51.100.9:1883" }\ncontrol: { regulator_keys: [{ kty: OKP, crv: Ed25519, x: ${evil.pub.jwk.x} }] }\n`;
    const v = await verifyEnvelope(await envelope(A, 3, pushed), [A.pub]);
    const cfg = effectiveConfig(v, local, "v3");
    expect(cfg.agent).toEqual(local.agent);
    expect(cfg.mqtt?.url).toBe("mqtt://127.0.0.1:1883");
    expect(cfg.control?.regulator_keys).toEqual([{ kty: "OKP", crv: "Ed25519", x: A.pub.jwk.x }]);
    expect(cfg.heartbeat.interval_s).toBe(61);
    expect(cfg.config_version).toBe("3");
  });

  it("does not expand the agent's environment inside a pushed mesh", async () => {
    const A = await makeKey();
    const local = parseConfig(
      bootstrap({ site: "gz-op-01", dataDir: "/tmp/qp", brokerUrl: "mqtt://127.0.0.1:1883", keys: [A.pub] }),
      "local.yaml",
      {},
    );
    const pushed = mesh(
      61,
      `tests:\n  - { id: t1, method: tcp, from: gz-op-01, target: "tcp://\${HOME}:80", diagnostic: true, continuous: { interval_s: 60 } }\n`,
    );
    const v = await verifyEnvelope(await envelope(A, 3, pushed), [A.pub]);
    expect(() => effectiveConfig(v, local, "v3")).toThrow(/environment variable HOME is not set/);
  });
});

describe("qos-probe config keygen / sign / verify", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "qp-cfgcli-"));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("keygen writes a 0600 private key, refuses to overwrite it; sign + verify agree; verify names a wrong key", async () => {
    const out = await keygen(join(dir, "reg"));
    expect(out.ok).toBe(true);
    expect(JSON.parse(out.stdout)).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect((await stat(join(dir, "reg.key"))).mode & 0o777).toBe(0o600);
    await expect(keygen(join(dir, "reg"))).rejects.toThrow(/already exists; not overwriting a private key/);

    const meshFile = join(dir, "mesh.yaml");
    await writeFile(meshFile, mesh(61).replace("version: 1\n", "version: 1\nconfig_version: 7\n"));
    const signed = await sign({
      mesh: meshFile,
      key: join(dir, "reg.key"),
      out: join(dir, "m.jws"),
      now_s: 1_764_500_000,
    });
    expect(signed.stderr).toMatch(/config_version 7, issued 2025-11-30T10:53:20.000Z/);
    const ok = await verify({ envelope: join(dir, "m.jws"), pub: [join(dir, "reg.pub")] });
    expect(ok.ok).toBe(true);
    expect(ok.stdout).toContain(
      `config_version 7, issued 2025-11-30T10:53:20.000Z, sha256 ${configHash(await readFile(meshFile))}`,
    );

    await keygen(join(dir, "other"));
    const bad = await verify({ envelope: join(dir, "m.jws"), pub: [join(dir, "other.pub")] });
    expect(bad.ok).toBe(false);
    expect(bad.stderr).toMatch(/NOT valid: unknown-key: signed by key .* which is not pinned/);

    await expect(sign({ mesh: meshFile, key: join(dir, "reg.key"), version: 8 })).rejects.toThrow(
      /config_version: "7" but --config-version 8/,
    );
    await writeFile(join(dir, "bad.yaml"), "version: 1\nsites: []\n");
    const refused = await sign({ mesh: join(dir, "bad.yaml"), key: join(dir, "reg.key"), version: 1 });
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/not signed: fix the mesh first/);
  });
});
