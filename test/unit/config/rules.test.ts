import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../agent/config/load.js";
import { intervalAligns } from "../../../agent/config/rules.js";
import { ConfigError, formatConfigIssue } from "../../../agent/errors.js";

/** Two valid sites (Beijing, Guangzhou: 1889 km) in block style; each case appends to it. */
const BASE = `version: 1
agent:
  site: bj-01
sites:
  - id: bj-01
    operator: unicom
    province: "110000"
    reflector: { host: 192.0.2.10 }
  - id: gz-01
    operator: unicom
    province: "440000"
    reflector: { host: 192.0.2.20 }
`;

function problems(extra: string): string[] {
  try {
    parseConfig(BASE + extra, "c.yaml", {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(formatConfigIssue);
    throw err;
  }
  return [];
}

describe("intervalAligns", () => {
  it("accepts divisors of 300 and multiples of 300 that divide 3600, nothing else", () => {
    // 3600 = 2^4 · 3^2 · 5^2 has 45 divisors; 18 divide 300, 6 are multiples of 300 (300 counted once): 23
    const ok = Array.from({ length: 3600 }, (_, i) => i + 1).filter(intervalAligns);
    expect(ok).toEqual([
      1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30, 50, 60, 75, 100, 150, 300, 600, 900, 1200, 1800, 3600,
    ]);
    expect(intervalAligns(240)).toBe(false); // divides 3600 but 240 s windows straddle 300 s boundaries
  });
});

describe("cross-field rules", () => {
  it("accepts the base file with a voip-4.2 test", () => {
    const t = `tests:
  - { id: v, method: stamp, from: bj-01, to: gz-01, profile: voip-4.2, rate_pps: 50, continuous: { interval_s: 300 } }
`;
    expect(problems(t)).toEqual([]);
  });

  it("wants latitude and longitude together", () => {
    expect(problems("").length).toBe(0);
    const text = BASE.replace('province: "440000"', 'province: "440000"\n    latitude: 23.1');
    expect(() => parseConfig(text, "c.yaml", {})).toThrow(
      "c.yaml: sites[1].longitude: latitude and longitude go together at line 9:5 " +
        "(give both, or neither to use the province capital's coordinates)",
    );
  });

  it("refuses a site joined to itself, tcp towards a site, and a rate that sends nothing", () => {
    const t = `tests:
  - id: a
    method: stamp
    from: bj-01
    to: bj-01
    continuous: { interval_s: 60 }
  - id: b
    method: tcp
    from: bj-01
    to: gz-01
    diagnostic: true
    continuous: { interval_s: 60 }
  - id: c
    method: icmp
    from: bj-01
    to: gz-01
    rate_pps: 0.01
    continuous: { interval_s: 60 }
`;
    // 0.01 pps × 60 s = 0.6 packets < 1; the smallest rate that sends one is 1/60 = 0.0167 → 0.02
    expect(problems(t)).toEqual([
      'c.yaml: tests[0].to: test joins site "bj-01" to itself at line 17:9 (pick another site as to)',
      "c.yaml: tests[1].method: method tcp cannot measure a site: sites only declare a STAMP reflector " +
        "at line 20:13 (use target: tcp://HOST:PORT)",
      "c.yaml: tests[2].rate_pps: rate_pps 0.01 sends no packet in a 60 s run at line 29:15 (raise rate_pps to at least 0.02)",
    ]);
  });

  it("checks the reflector section: listen, allow, auth key", () => {
    const r = `reflector:
  listen: "0.0.0.0:99999"
  allow: ["198.51.100.0/24", "198.51.100.0/33", "2001:db8::/32"]
  auth: { mode: authenticated }
`;
    expect(problems(r)).toEqual([
      'c.yaml: reflector.listen: must be an IP address, "host:port" or "[v6]:port" at line 14:11 ' +
        '(e.g. "0.0.0.0", "192.168.1.20:862" or "[::]:862"; port 1..65535)',
      // col 30: 2 spaces + "allow: [" + the 17-character first entry + ", " puts the second quote at 30
      "c.yaml: reflector.allow[1]: must be an IP address or CIDR at line 15:30 " +
        '(e.g. "198.51.100.7", "198.51.100.0/24" or "2001:db8::/32")',
      'c.yaml: reflector.auth.key: auth mode "authenticated" needs a key at line 16:9 ' +
        "(add key: { file: PATH } or key: { env: NAME })",
    ]);
  });

  it("checks MQTT: scheme, topic root, client certificate pair, inline username", () => {
    const m = `mqtt:
  url: http://broker.example
  topic_root: "qosprobe/#"
  username: probe
  tls: { cert_file: /etc/qos-probe/agent.pem }
`;
    expect(problems(m)).toEqual([
      "c.yaml: mqtt.url: must be an mqtt://, mqtts://, ws:// or wss:// URL at line 14:8",
      "c.yaml: mqtt.topic_root: must be topic levels without wildcards or empty levels at line 15:15",
      "c.yaml: mqtt.username: secret written inline (value not shown); secrets are references only " +
        "at line 16:13 (write { env: NAME } or { file: PATH })",
    ]);
    const tls = "mqtt:\n  url: mqtts://broker.example:8883\n  tls: { cert_file: /etc/qos-probe/agent.pem }\n";
    expect(problems(tls)).toEqual([
      "c.yaml: mqtt.tls: cert_file and key_file go together at line 15:8 (give both for client certificates, or neither)",
    ]);
  });

  it("refuses an inline stamp_key and a host with a scheme", () => {
    const text = BASE.replace(
      "reflector: { host: 192.0.2.20 }",
      "reflector: { host: udp://192.0.2.20 }\n    stamp_key: abc",
    );
    expect(() => parseConfig(text, "c.yaml", {})).toThrow(
      "c.yaml: sites[1].reflector.host: must be a host name or IP address, without scheme or port at line 12:24\n" +
        "c.yaml: sites[1].stamp_key: secret written inline (value not shown); secrets are references only " +
        "at line 13:16 (write { env: NAME } or { file: PATH })",
    );
  });

  it("suggests the near key for a top-level typo and lists known keys otherwise", () => {
    expect(problems("heartbaet: { interval_s: 60 }\nzzz: 1\n")).toEqual([
      'c.yaml: heartbaet: unknown key "heartbaet" at line 13:1 (did you mean "heartbeat"?)',
      'c.yaml: zzz: unknown key "zzz" at line 14:1 (known keys: version, config_version, agent, sites, ' +
        "reflector, tests, mqtt, embedded_broker, heartbeat, outbox, control)",
    ]);
  });
});
