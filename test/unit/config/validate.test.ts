import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../agent/config/load.js";
import { defaultOutboxBytes } from "../../../agent/config/outbox-size.js";
import { describeTest, ownTests } from "../../../agent/config/pairs.js";
import { outboxLine, schemaJson, validateFile } from "../../../agent/config/validate.js";
import { METHODS } from "../../../agent/probe/prober.js";

describe("config/*.yaml", () => {
  // Agent configurations only: a collector example has its own schema.
  const files = readdirSync("config").filter((f) => f.endsWith(".yaml") && !f.startsWith("collector"));
  it("includes the agent example and the demo", () => {
    expect(files).toEqual(expect.arrayContaining(["agent.example.yaml", "demo.yaml"]));
  });
  for (const f of files) {
    it(`${f} validates`, () => {
      const out = validateFile(`config/${f}`, {});
      expect(out.text).toMatch(/: valid: /);
      expect(out.ok).toBe(true);
    });
  }

  it("the example is a mesh of 4 sites in 4 provinces, every pair over 1000 km, STAMP and ICMP, both schedules", () => {
    const cfg = parseConfig(readFileSync("config/agent.example.yaml"), "x", {});
    expect(new Set(cfg.sites.map((s) => s.province)).size).toBe(4);
    for (const a of cfg.sites) {
      for (const b of cfg.sites) {
        if (a === b) continue;
        const plan = describeTest(cfg, { ...cfg.tests[0]!, from: a.id, to: b.id });
        expect(plan.pair?.ok).toBe(true);
      }
    }
    const methods = new Set(cfg.tests.map((t) => t.method));
    expect(methods.has("stamp") && methods.has("icmp")).toBe(true);
    expect(cfg.tests.some((t) => t.continuous) && cfg.tests.some((t) => t.scheduled)).toBe(true);
  });

  it("prints the demo's pairs with hand-checked distances", () => {
    // Beijing–Guangzhou 1888.59 km (geo.test.ts); Guangzhou–Chengdu and Chengdu–Beijing by the same haversine:
    // GZ→CD: Δφ 7.4437°, Δλ −9.1976° → 1230.95 km; CD→BJ: Δφ 9.3314°, Δλ 12.3406° → 1524.52 km
    const out = validateFile("config/demo.yaml", {});
    const table = out.text.split("\n").slice(2);
    expect(table).toEqual([
      "test         method  from (province)         to (province)             km  rule",
      "bj-gz-stamp  stamp   bj-demo-01 (Beijing)    gz-demo-01 (Guangdong)  1889  ✔",
      "gz-cd-stamp  stamp   gz-demo-01 (Guangdong)  cd-demo-01 (Sichuan)    1231  ✔",
      "cd-bj-stamp  stamp   cd-demo-01 (Sichuan)    bj-demo-01 (Beijing)    1525  ✔",
      "bj-cd-icmp   icmp    bj-demo-01 (Beijing)    cd-demo-01 (Sichuan)    1525  ✔",
    ]);
  });

  it("lets each demo agent pick its site: reflector on its own loopback port, its own tests", () => {
    const bytes = readFileSync("config/demo.yaml");
    const picks = ["bj-demo-01", "gz-demo-01", "cd-demo-01"].map((site) => {
      const cfg = parseConfig(bytes, "demo.yaml", { QOSPROBE_SITE: site });
      return [cfg.reflector.listen, ownTests(cfg).map((p) => p.target_text)];
    });
    expect(picks).toEqual([
      ["127.0.0.1:8620", ["stamp://127.0.0.1:8621", "icmp://127.0.0.1"]],
      ["127.0.0.1:8621", ["stamp://127.0.0.1:8622"]],
      ["127.0.0.1:8622", ["stamp://127.0.0.1:8620"]],
    ]);
    expect(parseConfig(bytes, "demo.yaml", {}).mqtt).toBeUndefined(); // embedded broker
  });
});

describe("validateFile", () => {
  it("marks diagnostic tests and shows what their pair would score", () => {
    const out = validateFile("test/fixtures/config/valid-diagnostic.yaml", {});
    expect(out.text.split("\n").slice(2)).toEqual([
      "test     method  from (province)    to (province)         km  rule",
      "gz-sz    stamp   gz-01 (Guangdong)  sz-01 (Guangdong)    104  diagnostic ✘",
      "gz-ping  icmp    gz-01 (Guangdong)  icmp://198.51.100.7    –  diagnostic",
    ]);
  });
  it("summarises a file with no tests", () => {
    const out = validateFile("test/fixtures/config/valid-minimal.yaml", {});
    expect(out.text).toMatch(
      /^test\/fixtures\/config\/valid-minimal\.yaml: valid: 1 site, 0 tests, this agent is bj-01, sha256 [0-9a-f]{16}\noutbox: max_bytes 64 MiB \(derived from the tests\) no tests of this agent; max_age 7.0 days; receipts required \(republish after 60 s\)\nno tests defined$/,
    );
  });
  it("states how many days of results the outbox holds, and warns when that is less than max_age", () => {
    const cfg = parseConfig(readFileSync("test/fixtures/config/valid-minimal.yaml"), "x", {});
    const six = ["a", "b", "c", "d", "e", "f"].map((id) => ({
      id,
      from: "bj-01",
      continuous: { interval_s: 10 },
    }));
    // 6 tests × 1/10 s = 0.6 results/s; 7 days = 362,880 results × 2048 B × 1.25 = 928,972,800 B
    // → 886 MiB (929,038,336 B), which holds 929,038,336 / (0.6 × 2048 × 86,400) = 8.75 days.
    expect(defaultOutboxBytes(six, 604_800)).toBe(886 * 1024 * 1024);
    const derived = { ...cfg, tests: six, outbox: { ...cfg.outbox, max_bytes: 886 << 20 } } as never;
    expect(outboxLine(derived)).toBe(
      "outbox: max_bytes 886 MiB (derived from the tests) holds 8.8 days of results (0.600 results/s from 6 tests, ≈2048 B each); max_age 7.0 days; receipts required (republish after 60 s)",
    );
    const fixed = {
      ...cfg,
      tests: six,
      outbox: { ...cfg.outbox, max_bytes: 64 << 20, max_bytes_derived: false },
    } as never;
    // 67,108,864 / 106,168,320 = 0.63 days
    expect(outboxLine(fixed)).toMatch(
      /holds 0\.6 days .*\nwarning: outbox.max_bytes holds less than max_age_s/,
    );
  });
  it("reports an unreadable file as an issue line", () => {
    expect(validateFile("test/fixtures/config/absent.yaml", {})).toEqual({
      ok: false,
      text: "test/fixtures/config/absent.yaml: (root): cannot read the file (ENOENT)",
    });
  });
});

describe("describeTest", () => {
  it("reaches a site's STAMP reflector, and pings the same host (IPv6 bracketed in the text)", () => {
    const cfg = parseConfig(readFileSync("config/agent.example.yaml"), "x", {});
    const icmp = describeTest(cfg, cfg.tests.find((t) => t.id === "bj-cd-icmp")!);
    expect(icmp.target).toEqual({ method: "icmp", host: "2001:db8:510::40" });
    expect(icmp.target_text).toBe("icmp://[2001:db8:510::40]");
    const stamp = describeTest(cfg, cfg.tests.find((t) => t.id === "gz-cd-stamp")!);
    expect(stamp.target).toEqual({ method: "stamp", host: "2001:db8:510::40", port: 862 });
    expect(stamp.peer?.id).toBe("cd-unicom-01");
  });
});

describe("schemaJson", () => {
  const schema = JSON.parse(schemaJson());
  it("is a draft 2020-12 JSON Schema of the input side, closed to unknown keys", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["version", "agent", "sites"]);
  });
  it("lists the methods and the defaults an editor can offer", () => {
    const test = schema.properties.tests.items;
    expect(test.properties.method.enum).toEqual([...METHODS]);
    expect(test.properties.packet_size_bytes.default).toBe(128);
    expect(test.properties.loss_timeout_ms.default).toBe(3000);
    expect(test.additionalProperties).toBe(false);
  });
});
