#!/usr/bin/env node
// First: refuse an old Node.js with a clear message before anything that needs a newer one loads.
import "./node-guard.js";
import { Command, CommanderError, Option } from "commander";
import { duration, exitCodeFor, int, jsonError, nonNegative } from "./cli-args.js";
import { addExamples } from "./cli-help.js";
import { QosProbeError } from "./errors.js";
import { createLogger } from "./log.js";
import { timestampsSwitchProblem } from "./net/libc.js";
import { MAX_RUN_PACKETS } from "./probe/limits.js";
import { PROFILES } from "./publish/message.js";
import { VERSION } from "./version.js";

/**
 * The `qos-probe` command: parses flags and hands them to a role. No measurement or I/O logic lives
 * here; each role module does its own work.
 */

const program = new Command()
  .name("qos-probe")
  .description(
    "Active network test probe: RTT, delay variation and loss between access points,\n" +
      "judged against the national telecom service specification (3.2.2 Internet,\n" +
      "4.2 IP telephony) and published over MQTT.",
  )
  .version(VERSION)
  .option("--log-level <level>", "trace | debug | info | warn | error", "info")
  .showHelpAfterError("(run with --help for usage)")
  // Commander exits 1 on a usage error; our help promises 2. Throw instead and decide below
  // (set before the subcommands are added: they inherit it).
  .exitOverride();

program
  .command("test")
  .description("measure one target now and print a summary (or the result message with --json)")
  .argument("<target>", "stamp://HOST[:PORT] | icmp://HOST | tcp://HOST:PORT | http(s)://HOST/PATH")
  .option("-c, --count <n>", "packets to send", int(1, MAX_RUN_PACKETS), 20)
  .option(
    "-i, --interval <time>",
    "gap between packets: 20ms, 0.5s (a bare number is ms)",
    duration("ms"),
    200,
  )
  .option("-s, --size <bytes>", "IP packet size (the spec's 'average packet length')", int(28, 65507), 128)
  .option("--dscp <n>", "DSCP code point for the probe packets", int(0, 63), 0)
  .option(
    "--timeout <time>",
    "a reply later than this is lost: 3s, 500ms (bare number: ms; ITU-T Y.1540: 3 s)",
    duration("ms"),
    3000,
  )
  .option("--poisson", "exponential gaps (Poisson sampling, RFC 2330) instead of a fixed period")
  .addOption(
    new Option(
      "--family <n>",
      "address family to resolve and measure: 4 or 6 (default: the resolver's first)",
    ).choices(["4", "6"]),
  )
  .addOption(
    new Option("--profile <id>", "specification profile to judge against")
      .choices(PROFILES)
      .default(PROFILES[0]),
  )
  .option("--auth-key-file <path>", "STAMP authenticated mode: file with the shared HMAC key (hex or raw)")
  .option("--ssid <n>", "STAMP session-sender identifier (RFC 8972)", int(1, 65535))
  .option("--json", "print the result message (qosprobe.result/1) instead of the summary")
  .option("--no-progress", "no live progress line on the terminal")
  .addHelpText(
    "after",
    `
Examples:
  qos-probe test stamp://198.51.100.7:862 -c 100 -i 100      100 STAMP packets, 10 per second
  qos-probe test icmp://127.0.0.1 -c 5                         system ping, per-packet RTTs
  qos-probe test stamp://[2001:db8::7] --auth-key-file k.hex   authenticated STAMP over IPv6
  qos-probe test stamp://127.0.0.1:8620 --json | jq .rtt_ms   the result message for scripts

Exit status: 0 measured, 1 the probe could not run or the measurement failed (status error or fault:
one line on stderr says what and how to fix it; --json still prints the result), 2 usage error,
130 stopped by Ctrl-C (SIGINT): what was measured until then is printed, flagged aborted.`,
  )
  .action(async (target: string, o, cmd: Command) => {
    const { runOneShot } = await import("./oneshot.js");
    const log = createLogger({ level: cmd.optsWithGlobals().logLevel });
    const { result, text, failure, interrupted } = await runOneShot(
      {
        target,
        count: o.count,
        interval_ms: o.interval,
        packet_size_bytes: o.size,
        dscp: o.dscp,
        loss_timeout_ms: o.timeout,
        schedule: o.poisson ? "poisson" : "periodic",
        ...(o.family ? { family: Number(o.family) as 4 | 6 } : {}),
        profile: o.profile,
        ...(o.authKeyFile ? { auth_key_file: o.authKeyFile } : {}),
        ...(o.ssid !== undefined ? { ssid: o.ssid } : {}),
        json: Boolean(o.json),
        progress: o.progress !== false,
      },
      log,
    );
    if (text) process.stdout.write(`${text}\n`);
    if (failure) process.stderr.write(`qos-probe: ${failure}\n`);
    if (result.status !== "ok") process.exitCode = 1;
    if (interrupted) process.exitCode = 130; // 128 + SIGINT, as if the signal had ended it
  });

program
  .command("reflect")
  .description("run a STAMP session-reflector alone (for a site that is only ever a target)")
  .option("-l, --listen <host:port>", "address and UDP port to answer on", "0.0.0.0:862")
  .option("--allow <cidr...>", "answer only these peers (addresses or CIDRs); default: everyone")
  .option("--rate-limit <pps>", "per-source packet rate limit (0 = no limit)", nonNegative, 1000)
  .option("--stateful", "keep a per-session reflector sequence counter (RFC 8762 §4.3.1)")
  .addOption(
    new Option("--auth-mode <mode>", "which packets to accept")
      .choices(["open", "authenticated", "both"])
      .default("open"),
  )
  .option("--auth-key-file <path>", "shared HMAC key (hex or raw) for authenticated mode")
  .addOption(
    new Option(
      "--thread <where>",
      "where the kernel-timestamped packet loop runs: main (the default; ≈ 8 MiB less memory) or worker " +
        "(a thread of its own: not even a garbage-collection pause between reading T3 and sending the " +
        "reply; on main such a pause is measured and reported to senders that ask). User timestamps " +
        "always run on main",
    )
      .choices(["main", "worker"])
      .default("main"),
  )
  .option(
    "--stats-interval <time>",
    "log counters every 60s, 5m… (bare number: seconds; 0 = never)",
    duration("s", { out: "s", allowZero: true }),
    60,
  )
  .addHelpText(
    "after",
    `
Examples:
  qos-probe reflect --listen 0.0.0.0:862                       answer everyone on the STAMP port
  qos-probe reflect --listen [::]:862 --allow 198.51.100.0/24  IPv6 too, only the regulator's senders
  qos-probe reflect -l 127.0.0.1:8620 --auth-mode both --auth-key-file k.hex

Port 862 needs CAP_NET_BIND_SERVICE (the systemd unit grants it) or root.`,
  )
  .action(async (o, cmd: Command) => {
    const { reflectAuthProblem, runReflectorRole } = await import("./reflect-role.js");
    const problem = reflectAuthProblem(o.authMode, o.authKeyFile);
    if (problem) throw problem;
    const log = createLogger({ level: cmd.optsWithGlobals().logLevel, name: "reflector" });
    await runReflectorRole(
      {
        listen: o.listen,
        allow: o.allow,
        rate_limit_pps: o.rateLimit,
        stateful: Boolean(o.stateful),
        auth_mode: o.authMode,
        ...(o.authKeyFile ? { auth_key_file: o.authKeyFile } : {}),
        stats_interval_s: o.statsInterval,
        thread: o.thread,
      },
      log,
    );
  });

program
  .command("agent")
  .description("run the measurement daemon of one site: its reflector, its scheduled tests, MQTT publishing")
  .requiredOption("--config <file>", "agent configuration (YAML); see config/agent.example.yaml")
  .addHelpText(
    "after",
    `
Signals:
  SIGHUP    re-read the configuration; an invalid one is refused and logged, the running one stays
  SIGTERM   stop in order: tests abort, the outbox flushes (10 s at most; not at all while the broker
            is unreachable: undelivered results stay in the outbox for the next start), MQTT disconnects

Without an mqtt section the agent starts an embedded MQTT 3.1.1 broker on embedded_broker.listen.
Results wait in <agent.data_dir>/<site>/outbox until the broker acknowledges them.`,
  )
  .action(async (o, cmd: Command) => {
    const { runAgentRole } = await import("./agent-role.js");
    const log = createLogger({ level: cmd.optsWithGlobals().logLevel, name: "agent" });
    const fromCli = cmd.parent?.getOptionValueSource("logLevel") === "cli";
    await runAgentRole(o.config, log, fromCli ? { logLevelFromCli: cmd.optsWithGlobals().logLevel } : {});
  });

program
  .command("tail")
  .description("print live results and status changes from a broker, one line each")
  .option("--url <url>", "broker URL", "mqtt://127.0.0.1:1883")
  .option("--root <topic>", "topic root", "qosprobe/v1")
  .option("--operator <id>", "only this operator")
  .option("--site <id>", "only this agent site")
  .addOption(
    new Option("--protocol <n>", "MQTT protocol version (4 for the embedded broker)")
      .choices(["4", "5"])
      .default("5"),
  )
  .option("--json", "JSON lines: {topic, message}")
  .action(async (o, cmd: Command) => {
    const { runTail } = await import("./tail.js");
    const log = createLogger({ level: cmd.optsWithGlobals().logLevel, name: "tail" });
    await runTail(
      {
        url: o.url,
        root: o.root,
        protocol_version: o.protocol === "4" ? 4 : 5,
        json: Boolean(o.json),
        ...(o.operator ? { operator: o.operator } : {}),
        ...(o.site ? { site: o.site } : {}),
        ...(process.env.QOSPROBE_MQTT_USERNAME ? { username: process.env.QOSPROBE_MQTT_USERNAME } : {}),
        ...(process.env.QOSPROBE_MQTT_PASSWORD ? { password: process.env.QOSPROBE_MQTT_PASSWORD } : {}),
      },
      log,
    );
  });

program
  .command("health")
  .description("exit 0 when the agent's last heartbeat (status.json) is recent and online; for health checks")
  .option("--data-dir <dir>", "the agent's data directory (agent.data_dir)", "/var/lib/qos-probe")
  .option("--site <id>", "the site, when the data directory holds several")
  .option(
    "--max-age <time>",
    "oldest acceptable heartbeat: 180s, 3m (bare number: seconds)",
    duration("s", { out: "s" }),
    180,
  )
  .action(async (o) => {
    const { checkHealth } = await import("./heartbeat.js");
    const { readdir } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const sites: string[] = o.site
      ? [o.site]
      : (await readdir(o.dataDir, { withFileTypes: true }).catch(() => []))
          .filter((d) => d.isDirectory())
          .map((d) => d.name);
    if (sites.length === 0) {
      process.stderr.write(`no agent data in ${o.dataDir}\n`);
      process.exitCode = 1;
      return;
    }
    for (const site of sites) {
      const { ok, text } = await checkHealth(join(o.dataDir, site), o.maxAge * 1000);
      (ok ? process.stdout : process.stderr).write(`${text}\n`);
      if (!ok) process.exitCode = 1;
    }
  });

program
  .command("collector")
  .description("subscribe to results (MQTT 5 shared subscription), store them, serve the compliance report")
  .requiredOption("--config <file>", "collector configuration (YAML); see config/collector.example.yaml")
  .action(async (o, cmd: Command) => {
    const { runCollectorRole } = await import("../collector/collector-role.js");
    const log = createLogger({ level: cmd.optsWithGlobals().logLevel, name: "collector" });
    await runCollectorRole(o.config, log);
  });

program
  .command("gaps")
  .description("per agent, the result seqs missing from the collector's store, beside its heartbeat")
  .option("--config <file>", "collector configuration: the database")
  .option("--database-url <url>", "PostgreSQL URL (overrides the config)")
  .option(
    "--data-dir <dir>",
    "PGlite directory (overrides the config; none of the three: /var/lib/qos-probe-collector/pglite, never created)",
  )
  .option("--site <id>", "only this agent site")
  .option("--json", "one JSON object per agent, with every missing range")
  .addHelpText(
    "after",
    `
Every agent numbers its results 1, 2, 3 … (seq) and never reuses a number, so a seq below the highest
stored one that is not in the store is a result produced and not (yet) stored. Columns:
  stored    distinct seqs in the store       highest   the highest stored seq
  missing   seqs below highest not stored    produced  next_seq − 1 from the last heartbeat
  outbox    results the agent still holds    dropped   results the agent gave up (a bound, a failed disk write)
A gap while outbox > 0 is usually results still on their way; a gap larger than dropped with an empty
outbox is a loss nobody explained: the command then exits 1.

Examples:
  qos-probe gaps --config /etc/qos-probe/collector.yaml
  qos-probe gaps --database-url postgres://qp@db/qosprobe --site bj-unicom-01 --json`,
  )
  .action(async (o) => {
    const { runGaps } = await import("../collector/gaps-role.js");
    const { text, unexplained } = await runGaps({
      ...(o.config ? { config: o.config } : {}),
      ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
      ...(o.dataDir ? { data_dir: o.dataDir } : {}),
      ...(o.site ? { site: o.site } : {}),
      ...(o.json ? { json: true } : {}),
    });
    process.stdout.write(`${text}\n`);
    if (unexplained) process.exitCode = 1;
  });

program
  .command("report")
  .description("the compliance report for a period, from the collector's store")
  .requiredOption(
    "--from <date>",
    "start, inclusive: 2026-11-01 (midnight in --timezone) or ISO 8601 with offset",
  )
  .requiredOption(
    "--to <date>",
    "end, exclusive: 2026-12-01 (midnight in --timezone) or ISO 8601 with offset",
  )
  .option("--timezone <zone>", "IANA zone for days and months (default: report.timezone, else Asia/Shanghai)")
  .option("--config <file>", "collector configuration: the database and the sites for the map")
  .option("--database-url <url>", "PostgreSQL URL (overrides the config)")
  .option(
    "--data-dir <dir>",
    "PGlite directory (overrides the config; none of the three: /var/lib/qos-probe-collector/pglite, never created)",
  )
  .addOption(
    new Option("--format <f>", "output format (results: the signed result messages, JSON Lines, for verify)")
      .choices(["html", "csv", "json", "results"])
      .default("html"),
  )
  .addOption(new Option("--lang <l>", "labels").choices(["zh", "en"]).default("zh"))
  .addOption(new Option("--period <p>", "rows per").choices(["hour", "day", "month", "all"]).default("month"))
  .option("-o, --out <file>", "write to a file instead of stdout")
  .addHelpText(
    "after",
    `
Examples:
  qos-probe report --config collector.yaml --from 2026-11-01 --to 2026-12-01 -o 2026-11.html
  qos-probe report --database-url postgres://qp@db/qosprobe --from 2026-11-01 --to 2026-12-01 --format csv --lang en`,
  )
  .action(async (o) => {
    const { runReport } = await import("../collector/report-role.js");
    const text = await runReport({
      from: o.from,
      to: o.to,
      format: o.format,
      lang: o.lang,
      period: o.period,
      ...(o.config ? { config: o.config } : {}),
      ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
      ...(o.dataDir ? { data_dir: o.dataDir } : {}),
      ...(o.out ? { out: o.out } : {}),
      ...(o.timezone ? { timezone: o.timezone } : {}),
    });
    if (text) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  });

program
  .command("demo")
  .description(
    "the whole system on loopback: embedded broker, three sites, collector on PGlite, report on :8080",
  )
  .option("--port <n>", "report HTTP port on 127.0.0.1", int(0, 65535), 8080)
  .option("--data-dir <dir>", "outboxes and the PGlite database", "./.qos-probe-demo")
  .option(
    "--seconds <time>",
    "stop after 30s, 5m… (bare number: seconds; 0 = until Ctrl-C)",
    duration("s", { out: "s", allowZero: true }),
    0,
  )
  .action(async (o, cmd: Command) => {
    const { runDemo } = await import("../collector/demo.js");
    const log = createLogger({
      level: cmd.optsWithGlobals().logLevel === "info" ? "warn" : cmd.optsWithGlobals().logLevel,
      name: "demo",
    });
    await runDemo({ data_dir: o.dataDir, http_port: o.port, seconds: o.seconds }, log);
  });

program
  .command("validate")
  .description(
    "check a configuration file: every error as 'file: path: message (hint)', or the pairs and their distances",
  )
  .argument("<file>", "agent configuration (YAML or JSON)")
  .action(async (file: string) => {
    const { validateFile } = await import("./config/validate.js");
    const { ok, text } = await validateFile(file);
    (ok ? process.stdout : process.stderr).write(`${text}\n`);
    process.exitCode = ok ? 0 : 1;
  });

program
  .command("schema")
  .description("print the configuration's JSON Schema (for editor completion: yaml-language-server)")
  .action(async () => {
    const { schemaJson } = await import("./config/validate.js");
    process.stdout.write(`${schemaJson()}\n`);
  });

program
  .command("verify")
  .description("audit a results export offline: every signature and every agent's hash chain")
  .argument("<export>", "JSON Lines of result messages (qos-probe report --format results), or a JSON array")
  .requiredOption("--keys <mesh>", "the mesh file whose sites[].device_key registers each agent's key")
  .addHelpText(
    "after",
    `
Examples:
  qos-probe report --config collector.yaml --from 2026-11-01 --to 2026-12-01 --format results -o nov.jsonl
  qos-probe verify nov.jsonl --keys mesh.yaml

Exit status 0: every result is signed by its site's registered key and every chain is unbroken.
Exit status 1: each offending record is named (file:line, site, seq, id) with what is wrong; or some
  results could not be checked because their site has no device key in --keys (the sites are named:
  register them as sites[].device_key).`,
  )
  .action(async (file: string, o) => {
    const { readRegisteredKeys, verifyExport } = await import("../collector/verify.js");
    const { ok, text } = await verifyExport(file, await readRegisteredKeys(o.keys));
    (ok ? process.stdout : process.stderr).write(`${text}\n`);
    process.exitCode = ok ? 0 : 1;
  });

const configCmd = program
  .command("config")
  .description(
    "the regulator's signed configuration: keygen, sign, verify (JWS, EdDSA / Ed25519); status (who runs which)",
  )
  .addHelpText(
    "after",
    `
The regulator signs one mesh file; every agent checks the signature against the keys pinned in its
local file (control.regulator_keys), refuses a config_version not newer than the one it runs, validates
it as \`qos-probe validate\` does, applies it and answers on {root}/{operator}/{province}/{site}/config/ack.

Examples:
  qos-probe config keygen --out regulator-2026             regulator-2026.key (0600) + .pub, prints the JWK
  qos-probe config sign mesh.yaml --key regulator-2026.key --config-version 7 -o mesh-v7.jws
  qos-probe config verify mesh-v7.jws --pub regulator-2026.pub
  mosquitto_pub -r -q 1 -t qosprobe/v1/unicom/config -f mesh-v7.jws    every unicom agent
  # or serve mesh-v7.jws over HTTPS and set control.https.url in the agents' local files`,
  );

async function writeCli(out: { ok: boolean; stdout: string; stderr: string }): Promise<void> {
  if (out.stdout) process.stdout.write(out.stdout);
  if (out.stderr) process.stderr.write(`${out.stderr}\n`);
  if (!out.ok) process.exitCode = 1;
}

configCmd
  .command("keygen")
  .description("make an Ed25519 key pair: NAME.key (private, 0600, never overwritten) and NAME.pub")
  .requiredOption("--out <name>", "file name without extension")
  .action(async (o) => {
    const { keygen } = await import("./control/config-cli.js");
    await writeCli(await keygen(o.out));
  });

configCmd
  .command("pubkey")
  .description("print the public key (JWK on stdout, key id and PEM on stderr) of a .key or .pub file")
  .argument("<file>", "private or public key file")
  .action(async (file: string) => {
    const { pubkey } = await import("./control/config-cli.js");
    await writeCli(await pubkey(file));
  });

configCmd
  .command("sign")
  .description("validate a mesh and sign it into a compact JWS (stdout, or -o FILE)")
  .argument("<mesh>", "the mesh configuration (YAML), as `qos-probe validate` accepts it")
  .requiredOption("--key <file>", "the regulator's private key (from config keygen)")
  .option(
    "--config-version <n>",
    "config_version, greater than what the agents run (default: the file's config_version)",
    int(1, Number.MAX_SAFE_INTEGER),
  )
  .option("-o, --out <file>", "write the envelope to a file")
  .action(async (mesh: string, o) => {
    const { sign } = await import("./control/config-cli.js");
    await writeCli(
      await sign({
        mesh,
        key: o.key,
        ...(o.configVersion ? { version: o.configVersion } : {}),
        ...(o.out ? { out: o.out } : {}),
      }),
    );
  });

configCmd
  .command("verify")
  .description(
    "check an envelope offline: prints config_version, hash and signing key id; exit 1 if not valid",
  )
  .argument("<envelope>", "the .jws file")
  .requiredOption("--pub <file...>", "the regulator's public key file(s) to trust")
  .option("--show", "print the signed YAML instead of the summary")
  .action(async (envelope: string, o) => {
    const { verify } = await import("./control/config-cli.js");
    await writeCli(await verify({ envelope, pub: o.pub, show: Boolean(o.show) }));
  });

configCmd
  .command("status")
  .description(
    "the regulator's view, from the collector's store: per site the version it runs, and who is not on the expected one",
  )
  .option("--config <file>", "collector configuration: the database, and the registered sites")
  .option("--database-url <url>", "PostgreSQL URL (overrides the config)")
  .option("--data-dir <dir>", "PGlite directory (overrides the config)")
  .option(
    "--expect <n>",
    "the config_version every site should run (default: the newest version any site acked or runs)",
    int(1, Number.MAX_SAFE_INTEGER),
  )
  .option(
    "--stale-after <time>",
    "a heartbeat older than this is stale: 90s, 5m, 1h (default: 3 × each agent's own heartbeat interval)",
    duration("s", { out: "s" }),
  )
  .option("--site <id>", "only this site")
  .option("--json", "the whole view as JSON (qosprobe.config-status/1), with every site's last ack")
  .addHelpText(
    "after",
    `
The collector stores every agent's answer on {root}/{operator}/{province}/{site}/config/ack and the
configuration its heartbeat says is live. Per site:
  state      current      runs the expected version
             rejected     refused it: the agent's reason follows (bad-signature, unknown-key, rollback, invalid…)
             pending      answered earlier envelopes, not this one yet
             never-acked  no ack ever stored from this site
             ahead        runs a newer version than --expect
  running    the signed config_version live (bootstrap: the agent's local file)
  accepted at  when the agent made it live (agent clock, UTC)
  heartbeat  age of the last heartbeat; STALE past --stale-after, offline after its Last Will
The expected version is --expect, else the newest version any agent acked or runs: an ack carries a
version only when the agent verified the signature against a pinned key, so a forged envelope never
raises it. Sites come from heartbeats, acks and the collector config's sites.

Exit status: 0 when every site runs the expected version and its heartbeat is fresh (no version known
yet: when every heartbeat is fresh); 1 when some site is not on it, or is stale or offline (a cron job
can alert on it); 2 on a usage error.

Examples:
  qos-probe config status --config /etc/qos-probe/collector.yaml
  qos-probe config status --database-url postgres://qp@db/qosprobe --expect 8 --stale-after 5m --json`,
  )
  .action(async (o) => {
    const { runConfigStatus } = await import("../collector/control-plane/status-role.js");
    const { text, ok } = await runConfigStatus({
      ...(o.config ? { config: o.config } : {}),
      ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
      ...(o.dataDir ? { data_dir: o.dataDir } : {}),
      ...(o.site ? { site: o.site } : {}),
      ...(o.expect !== undefined ? { expect: o.expect } : {}),
      ...(o.staleAfter !== undefined ? { stale_after_s: o.staleAfter } : {}),
      ...(o.json ? { json: true } : {}),
    });
    process.stdout.write(`${text}\n`);
    if (!ok) process.exitCode = 1;
  });

addExamples(program);

const switchProblem = timestampsSwitchProblem(process.env);
if (switchProblem) {
  process.stderr.write(`qos-probe: ${switchProblem}`);
  process.exitCode = 2;
} else
  program.parseAsync(process.argv).catch((err: unknown) => {
    const json = process.argv.includes("--json");
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help / version) already.
      if (err.exitCode === 0) return;
      if (json)
        process.stdout.write(
          `${jsonError({ code: "USAGE", message: err.message.replace(/^error: /, "") })}\n`,
        );
      process.exitCode = 2;
      return;
    }
    if (err instanceof QosProbeError) {
      process.stderr.write(`qos-probe: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}\n`);
      if (json) process.stdout.write(`${jsonError(err)}\n`);
      process.exitCode = exitCodeFor(err);
      return;
    }
    process.stderr.write(
      `qos-probe: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    if (json)
      process.stdout.write(
        `${jsonError({ code: "INTERNAL", message: String((err as Error)?.message ?? err) })}\n`,
      );
    process.exitCode = 1;
  });
