// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are the ${ENV} syntax under test, not templates
import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../agent/errors.js";
import { loadCollectorConfig, parseCollectorConfig } from "../../../collector/config.js";

/** Every invalid collector.yaml fixture with the exact text it is rejected with (empty environment). */
const DIR = "test/fixtures/collector-config";

const EXPECTED: Record<string, string> = {
  "invalid-connections-mqtt311.yaml":
    "mqtt.connections: more than one connection needs MQTT 5 shared subscriptions at line 5:16 " +
    "(remove connections, or use protocol_version: 5 with Mosquitto or EMQX)",
  "invalid-database-url.yaml": "database.url: must be a postgres:// or postgresql:// URL at line 4:8",
  "invalid-env-missing.yaml":
    "database.url: environment variable QOSPROBE_TEST_UNSET_DB_PASSWORD is not set at line 4:8 " +
    "(set it, or give a default: ${QOSPROBE_TEST_UNSET_DB_PASSWORD:-VALUE})",
  "invalid-http-listen.yaml": 'http.listen: must be "host:port" or "[v6]:port" at line 4:11',
  "invalid-inline-password.yaml":
    "mqtt.password: secret written inline (value not shown); secrets are references only at line 4:13 " +
    "(write { env: NAME } or { file: PATH })",
  "invalid-mqtt-url.yaml": "mqtt.url: must be an mqtt://, mqtts://, ws:// or wss:// URL at line 3:8",
  "invalid-no-mqtt.yaml": "mqtt: required key is missing at line 1:1",
  "invalid-report-lang.yaml": 'report.lang: Invalid option: expected one of "zh"|"en" at line 3:17',
  "invalid-report-timezone.yaml":
    "report.timezone: must be an IANA time zone name at line 3:21 (e.g. Asia/Shanghai (the default) or UTC)",
  "invalid-coverage-floor.yaml": "report.coverage_floor: Too big: expected number to be <=1 at line 3:27",
  "invalid-share-group.yaml": "mqtt.share_group: must be one topic level (no / + # or NUL) at line 4:16",
  "invalid-sites-both.yaml":
    "sites_from: give either sites or sites_from, not both at line 5:13 " +
    "(keep sites_from to share the agents' list, or sites to list them here)",
  "invalid-unknown-key.yaml":
    'mqtt.share_grup: unknown key "share_grup" at line 2:39 (did you mean "share_group"?)',
  "invalid-version.yaml": "version: this collector reads configuration version 1 at line 1:10",
};

function messageOf(file: string): string {
  try {
    loadCollectorConfig(file, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${file} was accepted`);
}

describe("collector.yaml fixtures", () => {
  const invalid = readdirSync(DIR).filter((f) => f.startsWith("invalid-"));

  it("has an expected message for every invalid fixture and a fixture for every message", () => {
    expect(invalid.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, text] of Object.entries(EXPECTED)) {
    it(`${name} is rejected with its message`, () => {
      expect(messageOf(`${DIR}/${name}`)).toBe(`${DIR}/${name}: ${text}`);
    });
  }
});

describe("collector.yaml defaults and sites", () => {
  it("fills every default from a minimal file", () => {
    const c = parseCollectorConfig('version: 1\nmqtt: { url: "mqtt://127.0.0.1:1883" }\n', "c.yaml", {});
    expect(c.mqtt).toEqual({
      url: "mqtt://127.0.0.1:1883",
      protocol_version: 5,
      client_id: `qosprobe-collector-${hostname().replace(/[^A-Za-z0-9-]/g, "-")}`,
      // Not named in the file: the collector role makes a unique one and keeps it in data_dir.
      client_id_explicit: false,
      share_group: "collectors",
      topic_root: "qosprobe/v1",
      session_expiry_s: 86_400,
      keepalive_s: 30,
      connections: 4,
    });
    expect(c.database).toEqual({ data_dir: "/var/lib/qos-probe-collector/pglite" });
    expect(c.data_dir).toBe("/var/lib/qos-probe-collector");
    expect(c.ingest).toEqual({
      batch_size: 1000,
      flush_interval_ms: 1000,
      receipt_interval_ms: 1000,
      results_stale_s: 300,
    });
    expect(c.http).toEqual({ enabled: true, listen: "127.0.0.1:8080" });
    expect(c.report).toEqual({
      lang: "zh",
      period: "day",
      window_days: 31,
      timezone: "Asia/Shanghai",
      coverage_floor: 0.9,
      max_range_days: 400,
      max_buckets: 744,
      cache_s: 60,
    });
    expect(c.sites).toEqual([]);
    expect(c.expected).toEqual([]);
  });

  it("uses one connection on MQTT 3.1.1, which has no shared subscriptions, and takes an explicit count", () => {
    const v4 = parseCollectorConfig(
      'version: 1\nmqtt: { url: "mqtt://127.0.0.1:1883", protocol_version: 4 }\n',
      "c.yaml",
      {},
    );
    expect(v4.mqtt.connections).toBe(1);
    const v5 = parseCollectorConfig(
      'version: 1\nmqtt: { url: "mqtt://127.0.0.1:1883", connections: 8 }\n',
      "c.yaml",
      {},
    );
    expect(v5.mqtt.connections).toBe(8);
  });

  it("expands ${ENV:-default} in the database url and reads sites_from relative to the file", () => {
    const c = loadCollectorConfig(`${DIR}/valid-full.yaml`, { QOSPROBE_TEST_DB: "qp_test" });
    expect(c.database.url).toBe("postgres://qosprobe@127.0.0.1:5432/qp_test");
    expect(c.mqtt.client_id).toBe("collector-a");
    // Beijing and Guangzhou have no coordinates in valid-pair.yaml: their province capitals stand in.
    expect(c.sites).toEqual([
      { site: "bj-01", operator: "unicom", province: "110000", latitude: 39.9042, longitude: 116.4074 },
      { site: "gz-01", operator: "unicom", province: "440000", latitude: 23.1291, longitude: 113.2644 },
    ]);
  });

  it("accepts the shipped example (sites from the agent example)", () => {
    const c = loadCollectorConfig("config/collector.example.yaml", {});
    expect(c.mqtt.url).toBe("mqtts://broker.example.net:8883");
    expect(c.sites.map((s) => s.site)).toEqual([
      "bj-unicom-01",
      "sh-unicom-01",
      "gz-unicom-01",
      "cd-unicom-01",
    ]);
    // The mesh's pair tests are expected in every window; the diagnostic raw-target test is not.
    expect(
      c.expected.map((e) => [e.test_id, e.from_site, e.to, e.method, e.packet_size_bytes, e.profile]),
    ).toEqual([
      ["bj-sh-stamp", "bj-unicom-01", "sh-unicom-01", "stamp", 140, "internet-3.2.2"],
      ["sh-gz-stamp", "sh-unicom-01", "gz-unicom-01", "stamp", 140, "internet-3.2.2"],
      ["gz-cd-stamp", "gz-unicom-01", "cd-unicom-01", "stamp", 128, "internet-3.2.2"],
      ["cd-bj-stamp", "cd-unicom-01", "bj-unicom-01", "stamp", 140, "internet-3.2.2"],
      ["bj-gz-voip", "bj-unicom-01", "gz-unicom-01", "stamp", 200, "voip-4.2"],
      ["bj-cd-icmp", "bj-unicom-01", "cd-unicom-01", "icmp", 84, "internet-3.2.2"],
      ["sh-cd-icmp", "sh-unicom-01", "cd-unicom-01", "icmp", 128, "internet-3.2.2"],
    ]);
  });
});
