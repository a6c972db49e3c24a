// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are the ${ENV} syntax under test, not templates
import { describe, expect, it } from "vitest";
import { configHash, loadConfigFile, parseConfig } from "../../../agent/config/load.js";
import { ConfigError, QosProbeError } from "../../../agent/errors.js";

const PAIR = `
version: 1
agent: { site: bj-01 }
sites:
  - { id: bj-01, operator: unicom, province: 北京, reflector: { host: 192.0.2.10 } }
  - { id: gz-01, operator: unicom, province: 440000, city: Guangzhou, reflector: { host: "2001:db8::20", port: 8620 } }
tests:
  - { id: bj-gz, method: stamp, from: bj-01, to: gz-01, continuous: { interval_s: 60 } }
`;

function issuesOf(fn: () => unknown): ConfigError["issues"] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("fills every default and normalises provinces to GB/T 2260 codes", () => {
    const cfg = parseConfig(PAIR, "pair.yaml", {});
    expect(cfg).toEqual({
      version: 1,
      agent: { site: "bj-01", data_dir: "/var/lib/qos-probe", log_level: "info" },
      sites: [
        {
          id: "bj-01",
          operator: "unicom",
          province: "110000",
          city: "Beijing", // the capital, as no city was given
          latitude: 39.9042,
          longitude: 116.4074,
          reflector: { host: "192.0.2.10", port: 862 },
        },
        {
          id: "gz-01",
          operator: "unicom",
          province: "440000", // YAML read 440000 as a number
          city: "Guangzhou",
          latitude: 23.1291,
          longitude: 113.2644,
          reflector: { host: "2001:db8::20", port: 8620 },
        },
      ],
      // listen defaults to every address on the advertised port, not the advertised host (NAT)
      reflector: {
        enabled: true,
        listen: "0.0.0.0:862",
        rate_limit_pps: 1000,
        stateful: false,
        thread: "main",
        auth: { mode: "open" },
      },
      tests: [
        {
          id: "bj-gz",
          method: "stamp",
          from: "bj-01",
          to: "gz-01",
          profile: "internet-3.2.2",
          diagnostic: false,
          rate_pps: 1,
          packet_size_bytes: 128,
          dscp: 0,
          schedule: "periodic",
          loss_timeout_ms: 3000,
          continuous: { interval_s: 60 },
        },
      ],
      embedded_broker: { listen: "127.0.0.1:1883" },
      heartbeat: { interval_s: 60 },
      // One test every 60 s needs far less than the 64 MiB floor of the derived bound.
      outbox: {
        max_bytes: 67108864,
        max_bytes_derived: true,
        max_age_s: 604800,
        receipts: "required",
        receipt_timeout_s: 60,
      },
    });
  });

  it("listens on :: for an IPv6 site and derives the MQTT client id from operator and site", () => {
    const text = PAIR.replace("site: bj-01", "site: gz-01") + "mqtt: { url: mqtt://192.0.2.1:1883 }\n";
    const cfg = parseConfig(text, "pair.yaml", {});
    expect(cfg.reflector.listen).toBe("[::]:8620");
    expect(cfg.mqtt).toEqual({
      url: "mqtt://192.0.2.1:1883",
      protocol_version: 5,
      client_id: "qosprobe-unicom-gz-01",
      topic_root: "qosprobe/v1",
      keepalive_s: 30,
    });
  });

  it("expands ${NAME} and ${NAME:-default} in values, empty counting as unset", () => {
    // Inside a { } flow mapping an unquoted ${ would open a nested mapping: quote it.
    const text = PAIR.replace("site: bj-01", 'site: "${SITE}"');
    const withDefault = text.replace("${SITE}", "${SITE:-bj-01}");
    expect(parseConfig(text, "a.yaml", { SITE: "gz-01" }).agent.site).toBe("gz-01");
    expect(parseConfig(withDefault, "a.yaml", {}).agent.site).toBe("bj-01");
    expect(parseConfig(withDefault, "a.yaml", { SITE: "" }).agent.site).toBe("bj-01");
    expect(parseConfig(withDefault, "a.yaml", { SITE: "gz-01" }).agent.site).toBe("gz-01");
  });

  it("keeps an expanded value a plain string: no YAML structure can be injected", () => {
    const text = PAIR.replace("site: bj-01", 'site: "${SITE}"');
    expect(issuesOf(() => parseConfig(text, "a.yaml", { SITE: "bj-01, data_dir: /etc" }))).toEqual([
      {
        file: "a.yaml",
        path: "agent.site",
        message: "must be lower-case letters, digits and hyphens ([a-z0-9-]+) at line 3:16",
      },
    ]);
  });

  it("reports issues with file, path, message and hint, never the secret value", () => {
    const text = PAIR + "mqtt: { url: mqtt://192.0.2.1, username: { env: U }, password: hunter2 }\n";
    const issues = issuesOf(() => parseConfig(text, "a.yaml", {}));
    expect(issues).toEqual([
      {
        file: "a.yaml",
        path: "mqtt.password",
        message: "secret written inline (value not shown); secrets are references only at line 9:64",
        hint: "write { env: NAME } or { file: PATH }",
      },
    ]);
    expect(JSON.stringify(issues)).not.toContain("hunter2");
  });

  it("reads JSON too (YAML 1.2 is a superset)", () => {
    const json = JSON.stringify({
      version: 1,
      agent: { site: "x-01" },
      sites: [{ id: "x-01", operator: "o", province: "Sichuan", reflector: { host: "192.0.2.1" } }],
    });
    expect(parseConfig(json, "a.json", {}).sites[0]?.province).toBe("510000");
  });

  it("turns an empty file, bad UTF-8 and an alias bomb into issues", () => {
    expect(issuesOf(() => parseConfig("", "e.yaml", {}))).toEqual([
      {
        file: "e.yaml",
        path: "",
        message: "Invalid input: expected object, received null",
        hint: "the file must be a YAML mapping starting with version: 1",
      },
    ]);
    expect(issuesOf(() => parseConfig(Buffer.from([0x76, 0xff, 0xfe]), "b.yaml", {}))).toEqual([
      { file: "b.yaml", path: "", message: "not valid UTF-8", hint: "save the file as UTF-8" },
    ]);
    // 10 aliases of a 10-alias list = 110 alias resolutions > the cap of 100
    const bomb = `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [${Array(10).fill("*a").join(",")}]\nc: [${Array(10).fill("*b").join(",")}]\n`;
    const [only] = issuesOf(() => parseConfig(bomb, "bomb.yaml", {}));
    expect(only?.message).toMatch(/^YAML: Excessive alias count/);
  });

  it("reports only the first YAML syntax error, with a hint for an unquoted ${ in a flow mapping", () => {
    const text = PAIR.replace("site: bj-01", "site: ${SITE}");
    // line 3 is "agent: { site: ${SITE} }": the "{" after "$" opens a nested flow mapping at column 17
    expect(issuesOf(() => parseConfig(text, "a.yaml", { SITE: "bj-01" }))).toEqual([
      {
        file: "a.yaml",
        path: "",
        message: "YAML: Unexpected flow-map-start at node end at line 3:17",
        hint: 'quote a value holding ${…} inside { } or [ ]: "${NAME}"',
      },
    ]);
  });

  it("ConfigError.message lists every issue on its own line", () => {
    // "gz-9" is 2 edits from "gz-01": over the limit for a 4-letter word (1), so no suggestion.
    const text = PAIR.replace("interval_s: 60", "interval_s: 7").replace("to: gz-01", "to: gz-9");
    try {
      parseConfig(text, "a.yaml", {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe("CONFIG_INVALID");
      expect((err as ConfigError).message.split("\n")).toEqual([
        'a.yaml: tests[0].to: unknown site "gz-9" at line 8:50 (known sites: bj-01, gz-01)',
        "a.yaml: tests[0].continuous.interval_s: interval_s 7 does not align with the 5-minute availability " +
          "windows at line 8:82 (use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30, 50, 60, 75, 100, 150, 300, " +
          "600, 900, 1200, 1800, 3600)",
      ]);
    }
  });
});

describe("loadConfigFile", () => {
  it("reads and parses a file", () => {
    expect(loadConfigFile("test/fixtures/config/valid-pair.yaml", {}).tests.map((t) => t.id)).toEqual([
      "bj-gz",
    ]);
  });
  it("fails with CONFIG_READ for a missing file", () => {
    expect(() => loadConfigFile("test/fixtures/config/no-such-file.yaml", {})).toThrow(QosProbeError);
    try {
      loadConfigFile("test/fixtures/config/no-such-file.yaml", {});
    } catch (err) {
      expect((err as QosProbeError).code).toBe("CONFIG_READ");
    }
  });
});

describe("configHash", () => {
  it("is the first 16 hex digits of SHA-256 (FIPS 180-2 vector: sha256('abc') = ba7816bf8f01cfea…)", () => {
    expect(configHash("abc")).toBe("ba7816bf8f01cfea");
    expect(configHash(Buffer.from("abc"))).toBe("ba7816bf8f01cfea");
  });
});
