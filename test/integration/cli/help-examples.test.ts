import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { CLI } from "../../helpers/agent-process.js";
import { runCli } from "../../helpers/cli-run.js";

/**
 * README: "`qos-probe --help` and `qos-probe COMMAND --help` list every option with examples". The
 * command tree is walked through the compiled CLI's own help (its "Commands:" sections, recursively),
 * so a command added later without examples fails here. The examples that need no network or daemon
 * (schema, validate, config keygen/pubkey/sign/verify) are run as printed, in a scratch directory.
 */

const sh = promisify(execFile);

/** Command names listed under "Commands:" in a help text, without commander's implicit `help`. */
function subcommands(help: string): string[] {
  const at = help.indexOf("\nCommands:\n");
  if (at < 0) return [];
  const names: string[] = [];
  for (const line of help.slice(at + "\nCommands:\n".length).split("\n")) {
    if (line.trim() === "") break;
    const m = /^ {2}(\S+)/.exec(line); // an entry; deeper-indented lines continue a description
    if (m?.[1] && m[1] !== "help") names.push(m[1]);
  }
  return names;
}

/** The lines of the help's "Examples:" section (up to the first blank line). */
function examples(help: string): string[] {
  const lines = help.split("\n");
  const at = lines.indexOf("Examples:");
  if (at < 0) return [];
  const end = lines.findIndex((l, i) => i > at && l.trim() === "");
  return lines.slice(at + 1, end < 0 ? undefined : end);
}

/** Every command path below the program: [] (the program), ["test"], …, ["config", "pubkey"]. */
async function walk(path: string[] = []): Promise<{ path: string[]; help: string }[]> {
  const r = await runCli([...path, "--help"]);
  expect(r.code, `qos-probe ${path.join(" ")} --help`).toBe(0);
  const out = [{ path, help: r.stdout }];
  for (const name of subcommands(r.stdout)) out.push(...(await walk([...path, name])));
  return out;
}

describe("every --help has examples that are real invocations", () => {
  let tree: { path: string[]; help: string }[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("walks the whole command tree", async () => {
    tree = await walk();
    const paths = tree.map((t) => t.path.join(" "));
    // The walk itself is checked against commands every release has had, so a broken parser fails.
    for (const p of ["", "test", "reflect", "agent", "tail", "health", "schema", "config", "config pubkey"])
      expect(paths).toContain(p);
    expect(paths.length).toBeGreaterThanOrEqual(19); // the program, 13 commands, 5 under config
  }, 120_000);

  it("each command's help has an Examples section with a line invoking that very command", () => {
    const commands = subcommands(tree[0]?.help ?? "");
    const missing: string[] = [];
    for (const { path, help } of tree) {
      const lines = examples(help);
      // `qos-probe PATH …`, maybe after VAR=value assignments; the program's own may invoke any command.
      const invocation =
        path.length === 0
          ? new RegExp(`^ {2}(\\S+=\\S+ )*qos-probe (${commands.join("|")})( |$)`)
          : new RegExp(`^ {2}(\\S+=\\S+ )*qos-probe ${path.join(" ")}( |$)`);
      if (!lines.some((l) => invocation.test(l))) missing.push(`qos-probe ${path.join(" ")}`.trim());
    }
    expect(missing).toEqual([]);
  });

  it("the top-level help stays inside 80 columns", () => {
    const wide = (tree[0]?.help ?? "").split("\n").filter((l) => l.length > 80);
    expect(wide).toEqual([]);
  });

  it("the offline examples run as printed (schema, validate, config keygen/pubkey/sign/verify)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-examples-"));
    dirs.push(dir);
    // The files the examples name: a valid mesh with a whole-number config_version, a second key.
    const example = await readFile(new URL("../../../config/agent.example.yaml", import.meta.url), "utf8");
    await writeFile(join(dir, "mesh.yaml"), example.replace(/^config_version: .*$/m, "config_version: 7"));
    await copyFile(join(dir, "mesh.yaml"), join(dir, "agent.yaml"));
    const run = (line: string) =>
      sh("bash", ["-c", `set -o pipefail; qos-probe() { "${process.execPath}" "${CLI}" "$@"; }; ${line}`], {
        cwd: dir,
      });
    await run("qos-probe config keygen --out regulator-2027");
    const order = ["schema", "config keygen", "validate", "config pubkey", "config sign", "config verify"];
    const ran: string[] = [];
    for (const p of order) {
      const help = tree.find((t) => t.path.join(" ") === p)?.help ?? "";
      for (const line of examples(help)) {
        if (!line.startsWith(`  qos-probe ${p}`)) continue; // a comment, or a note
        // The command is what precedes the description column (3+ spaces); /etc paths are the host's.
        const command = (line.trim().split(/ {3,}/)[0] ?? "").replaceAll("/etc/qos-probe/", "");
        const r = await run(command).catch((err: { code: number; stderr: string }) => err);
        expect((r as { code?: number }).code ?? 0, `${command}\n${(r as { stderr: string }).stderr}`).toBe(0);
        ran.push(command);
      }
    }
    expect(ran).toContain("qos-probe config pubkey regulator-2026.pub 2>/dev/null > regulator-2026.jwk");
    expect(JSON.parse(await readFile(join(dir, "regulator-2026.jwk"), "utf8"))).toMatchObject({
      kty: "OKP",
      crv: "Ed25519",
    });
    expect(JSON.parse(await readFile(join(dir, "qos-probe.schema.json"), "utf8")).title).toBe(
      "qos-probe agent configuration, version 1",
    );
    const verified = await run("qos-probe config verify mesh-v7.jws --pub regulator-2026.pub");
    expect(verified.stdout).toMatch(/^mesh-v7\.jws: valid: config_version 7, /);
  }, 120_000);
});
