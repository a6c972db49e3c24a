import type { Command } from "commander";

/**
 * The "Examples:" sections of the commands whose definition in cli.ts carries none, keyed by command
 * path ("" is `qos-probe` itself, "config pubkey" a subcommand). They live here, in a module with no
 * runtime imports, rather than in each command's own module: those (tail.ts → mqtt, demo.ts → PGlite,
 * config/validate.ts → zod …) are imported lazily by the command's action, and importing them for
 * their help text would load all of them on every start. Every line that starts with `qos-probe` was
 * run as written (test/integration/cli/help-examples.test.ts walks every command and requires one).
 */
export const EXAMPLES: Readonly<Record<string, string>> = {
  // Inside 80 columns, as the rest of the top-level help.
  "": `
Examples:
  qos-probe test icmp://127.0.0.1 -c 5            measure one target now
  qos-probe validate /etc/qos-probe/agent.yaml    check a configuration
  qos-probe agent --config /etc/qos-probe/agent.yaml
  qos-probe help report                           a command's options, examples`,

  agent: `
Examples:
  qos-probe agent --config /etc/qos-probe/agent.yaml
  QOSPROBE_SITE=gz-unicom-01 qos-probe agent --config mesh.yaml   one mesh file; agent.site: "\${QOSPROBE_SITE}"

Log level: agent.log_level in the file (re-read on SIGHUP); --log-level on the command line wins over it.`,

  tail: `
Examples:
  qos-probe tail                                                 every result and status, local broker
  qos-probe tail --url mqtt://127.0.0.1:1883 --protocol 4        an agent's embedded broker (MQTT 3.1.1)
  qos-probe tail --url mqtts://broker.example:8883 --operator unicom --site bj-unicom-01
  qos-probe tail --json | jq -c 'select(.topic | endswith("/status"))'   status changes only

Broker credentials come from QOSPROBE_MQTT_USERNAME and QOSPROBE_MQTT_PASSWORD (never a flag: ps shows flags).`,

  health: `
Examples:
  qos-probe health                                          every site under /var/lib/qos-probe
  qos-probe health --data-dir /var/lib/qos-probe --site bj-unicom-01 --max-age 5m

Exit status 0: each site's status.json is online and younger than --max-age; 1 otherwise (one line
per site says why). The Dockerfile's HEALTHCHECK runs it.`,

  collector: `
Examples:
  qos-probe collector --config /etc/qos-probe/collector.yaml
  QOSPROBE_MQTT_USER=collector qos-probe collector --config collector.yaml   { env: NAME } in the file`,

  demo: `
Examples:
  qos-probe demo                                        until Ctrl-C; the report on http://127.0.0.1:8080
  qos-probe demo --port 8090 --seconds 5m --data-dir /tmp/qos-probe-demo

The three demo reflectors listen on 127.0.0.1:8620–8622.`,

  validate: `
Examples:
  qos-probe validate /etc/qos-probe/agent.yaml        every pair with its distance, or every problem
  qos-probe validate mesh.yaml && qos-probe config sign mesh.yaml --key regulator-2026.key -o mesh.jws

Exit status 0: valid; 1: each problem on stderr as 'file: path: message (hint)'.`,

  schema: `
Examples:
  qos-probe schema > qos-probe.schema.json
  # then make the first line of agent.yaml:  # yaml-language-server: $schema=./qos-probe.schema.json`,

  "config keygen": `
Examples:
  qos-probe config keygen --out regulator-2026     regulator-2026.key (0600) + regulator-2026.pub`,

  "config pubkey": `
Examples:
  qos-probe config pubkey regulator-2026.key       the JWK to pin in control.regulator_keys, and its key id
  qos-probe config pubkey regulator-2026.pub 2>/dev/null > regulator-2026.jwk`,

  "config sign": `
Examples:
  qos-probe config sign mesh.yaml --key regulator-2026.key --config-version 7 -o mesh-v7.jws
  qos-probe config sign mesh.yaml --key regulator-2026.key > mesh.jws   version: the file's config_version`,

  "config verify": `
Examples:
  qos-probe config verify mesh-v7.jws --pub regulator-2026.pub
  qos-probe config verify mesh-v7.jws --pub regulator-2026.pub regulator-2027.pub --show`,
};

/** The path of a command below the program: "" for the program, "config pubkey" for a subcommand. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Add `EXAMPLES` after the help of the program and of each command it names. */
export function addExamples(program: Command): void {
  const visit = (cmd: Command) => {
    const text = EXAMPLES[commandPath(cmd)];
    if (text) cmd.addHelpText("after", text);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
