// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are the ${ENV} syntax under test, not templates
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validateFile } from "../../../agent/config/validate.js";

/**
 * Every invalid fixture with the exact text `qos-probe validate` prints for it. Paths are relative to
 * the repository root, where vitest runs; the environment is empty so the host's variables cannot leak in.
 */
const DIR = "test/fixtures/config";
const PAIR_HINT = "(pick a site in another province over 1000 km away, or set diagnostic: true)";
/** After the issues, the rules that could not run because a value they read has an error above. */
const NOT_CHECKED = "(fix the errors above and run validate again: more issues may follow)";
/** Both modes' minimum and the maximum, both families (probe/limits.ts stampSizeHint). */
const STAMP_SIZE_HINT =
  "use at least 72 bytes unauthenticated or 140 authenticated (IPv6: 92 / 160), and at most 9244 (IPv6: 9264)";

const EXPECTED: Record<string, string[]> = {
  "invalid-agent-site.yaml": ['agent.site: unknown site "sh-01" at line 3:16 (known sites: bj-01)'],
  "invalid-both-schedules.yaml": [
    "tests[0].scheduled: give either continuous or scheduled, not both at line 19:16",
  ],
  "invalid-cron.yaml": [
    'tests[0].scheduled.cron: invalid cron expression "0 61 * * * *": bad minute "61" at line 18:24 ' +
      '(node-cron fields: [second] minute hour day-of-month month day-of-week, e.g. "0 */5 * * * *")',
  ],
  "invalid-duplicate-ids.yaml": [
    'sites[2].id: duplicate site id "bj-01" at line 7:11 (first defined at sites[0])',
    'tests[1].id: duplicate test id "t1" at line 10:11 (first defined at tests[0])',
  ],
  "invalid-env-missing.yaml": [
    "agent.site: environment variable QOSPROBE_TEST_UNSET_SITE is not set at line 3:16 " +
      "(set it, or give a default: ${QOSPROBE_TEST_UNSET_SITE:-VALUE})",
  ],
  "invalid-inline-secret.yaml": [
    "mqtt.password: secret written inline (value not shown); secrets are references only at line 15:13 " +
      "(write { env: NAME } or { file: PATH })",
  ],
  "invalid-interval.yaml": [
    "tests[0].continuous.interval_s: interval_s 240 does not align with the 5-minute availability windows " +
      "at line 18:31 (use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30, 50, 60, 75, 100, 150, 300, 600, 900, " +
      "1200, 1800, 3600)",
  ],
  "invalid-many.yaml": [
    'agent.log_lvl: unknown key "log_lvl" at line 3:23 (did you mean "log_level"?)',
    "sites[3].reflector.port: Too big: expected number to be <=65535 at line 8:93",
    'tests[0].to: unknown site "gz-1" at line 10:46 (did you mean "gz-01"? known sites: bj-01, tj-01, gz-01, sh-01)',
    'tests[1].method: Invalid option: expected one of "stamp"|"icmp"|"tcp"|"http" at line 11:22',
    "tests[2].to: bj-01 → tj-01 breaks the spec 3.2.2 pair rule (different provinces, over 1000 km): " +
      `only 114 km apart at line 12:46 ${PAIR_HINT}`,
    `tests[1]: not checked yet: the rules of this test that read method ${NOT_CHECKED}`,
    `tests[1].to: not checked yet: the pair rule for bj-01 → gz-01, which reads tests[1].method ${NOT_CHECKED}`,
  ],
  "invalid-method-scheme.yaml": [
    'tests[0].target: target "tcp://198.51.100.5:443" is a tcp target but method is icmp at line 17:13 ' +
      "(set method: tcp, or write the target as icmp://…)",
  ],
  "invalid-no-schedule.yaml": [
    "tests[0]: a test needs continuous: { interval_s } or scheduled: { cron, duration_s } at line 14:5",
  ],
  "invalid-operator-mismatch.yaml": [
    "tests[0].to: test joins operator unicom to operator telecom; spec 3.2.2 measures between two access " +
      "points of one operator at line 8:50 (pick a site of operator unicom, or set diagnostic: true)",
  ],
  // Guangzhou ↔ Shenzhen: Δφ = 0.586°, Δλ = 0.7935° → √((0.586·111.195)² + (0.7935·111.195·cos 22.84°)²) ≈ 104 km
  "invalid-pair-same-province.yaml": [
    "tests[0].to: gz-01 → sz-01 breaks the spec 3.2.2 pair rule (different provinces, over 1000 km): " +
      `both in Guangdong and only 104 km apart at line 18:9 ${PAIR_HINT}`,
  ],
  // Beijing ↔ Tianjin: 113.8 km (computed in geo.test.ts)
  "invalid-pair-too-close.yaml": [
    "tests[0].to: bj-01 → tj-01 breaks the spec 3.2.2 pair rule (different provinces, over 1000 km): " +
      `only 114 km apart at line 11:9 ${PAIR_HINT}`,
  ],
  "invalid-province.yaml": [
    'sites[0].province: unknown province "Guangdon" at line 5:46 (did you mean "Guangdong"?)',
  ],
  "invalid-family.yaml": [
    "tests[0].family: family must be 4 (IPv4) or 6 (IPv6) at line 18:13",
    `tests[0]: not checked yet: the rules of this test that read family ${NOT_CHECKED}`,
    `tests[0].to: not checked yet: the pair rule for bj-01 → gz-01, which reads tests[0].family ${NOT_CHECKED}`,
  ],
  // 0.1 pps × 60 s = 6 expected packets < 20; 20 / 60 = 0.333… → 0.34.
  "invalid-poisson-few.yaml": [
    "tests[0].schedule: a Poisson run of 60 s at 0.1 pps expects 6 packets; the count varies and needs at " +
      "least 20 expected at line 19:15 (raise rate_pps to at least 0.34, or use schedule: periodic)",
  ],
  "invalid-rate.yaml": [
    "tests[0].rate_pps: Too big: expected number to be <=1000 at line 18:15",
    `tests[0]: not checked yet: the rules of this test that read rate_pps ${NOT_CHECKED}`,
  ],
  "invalid-raw-target.yaml": [
    "tests[0].target: a raw target has no peer site, so it cannot satisfy the spec 3.2.2 pair rule " +
      "(profile internet-3.2.2) at line 17:13 " +
      "(use to: SITE_ID (a site in another province over 1000 km away), or set diagnostic: true)",
  ],
  // 112 (authenticated STAMP) + 8 (UDP) + 20 (IPv4) = 140 > the 128-byte default
  // Both phases in one pass: before, only the three schema lines were printed.
  "invalid-schema-and-rules.yaml": [
    'sites[1].lattitude: unknown key "lattitude" at line 9:89 (did you mean "latitude"?)',
    'tests[0].method: Invalid option: expected one of "stamp"|"icmp"|"tcp"|"http" at line 12:22',
    "tests[0].continuous.interval_s: interval_s 7 does not align with the 5-minute availability windows " +
      "at line 12:77 (use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30, 50, 60, 75, 100, 150, 300, 600, 900, " +
      "1200, 1800, 3600)",
    "tests[1].to: bj-01 → tj-01 breaks the spec 3.2.2 pair rule (different provinces, over 1000 km): " +
      `only 114 km apart at line 13:46 ${PAIR_HINT}`,
    "tests[1].rate_pps: Invalid input: expected number, received string at line 13:63",
    `tests[0]: not checked yet: the rules of this test that read method ${NOT_CHECKED}`,
    `tests[1]: not checked yet: the rules of this test that read rate_pps ${NOT_CHECKED}`,
    `tests[0].to: not checked yet: the pair rule for bj-01 → gz-01, which reads tests[0].method ${NOT_CHECKED}`,
  ],
  "invalid-stamp-auth-size.yaml": [
    "tests[0].packet_size_bytes: packet_size_bytes 128 is below the smallest authenticated STAMP test packet " +
      'over IPv4 (140 bytes: 112 STAMP + 28 IP and UDP headers); site "gz-01" has a stamp_key at line 14:5 ' +
      `(${STAMP_SIZE_HINT})`,
  ],
  // 44 + 8 + 20 = 72
  "invalid-stamp-size.yaml": [
    "tests[0].packet_size_bytes: packet_size_bytes 64 is below the smallest unauthenticated STAMP test packet " +
      `over IPv4 (72 bytes: 44 STAMP + 28 IP and UDP headers) at line 18:24 (${STAMP_SIZE_HINT})`,
  ],
  "invalid-to-and-target.yaml": [
    "tests[0].target: give either to (a site) or target (a URL), not both at line 18:13",
  ],
  "invalid-unknown-key.yaml": [
    'tests[0].rate_pp: unknown key "rate_pp" at line 18:5 (did you mean "rate_pps"?)',
  ],
  "invalid-unknown-site.yaml": [
    'tests[0].to: unknown site "gz-02" at line 17:9 (did you mean "gz-01"? known sites: bj-01, gz-01)',
  ],
  "invalid-url-credentials.yaml": [
    "mqtt.url: credentials written inline in the URL (not shown); secrets are references only at line 14:8 " +
      "(remove them from the URL and use username: { env: NAME }, password: { file: PATH })",
  ],
  "invalid-version.yaml": ["version: this agent reads configuration version 1 at line 2:10"],
  "invalid-yaml-syntax.yaml": [
    "(root): YAML: Map keys must be unique at line 4:1 (each key may appear once per mapping)",
  ],
};

const fixtures = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));

describe("invalid fixtures", () => {
  it("has an expected message for every invalid-*.yaml and a file for every expectation", () => {
    expect(fixtures.filter((f) => f.startsWith("invalid-")).sort()).toEqual(Object.keys(EXPECTED).sort());
  });
  for (const [name, lines] of Object.entries(EXPECTED)) {
    it(name, () => {
      const file = `${DIR}/${name}`;
      const out = validateFile(file, {});
      expect(out.ok).toBe(false);
      expect(out.text).toBe(lines.map((l) => `${file}: ${l}`).join("\n"));
    });
  }
});

describe("valid fixtures", () => {
  for (const name of fixtures.filter((f) => f.startsWith("valid-"))) {
    it(`${name} validates`, () => {
      const out = validateFile(`${DIR}/${name}`, {});
      expect(out.text).toMatch(/: valid: /);
      expect(out.ok).toBe(true);
    });
  }
});
