import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The compiled CLI: integration tests run the agent as deployed (npm test builds first). */
export const CLI = new URL("../../dist/agent/cli.js", import.meta.url).pathname;

export interface AgentLogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real `qos-probe agent` child process with its own config and data directory. */
export class AgentProcess {
  readonly dir: string;
  readonly configPath: string;
  readonly lines: AgentLogLine[] = [];
  private child: ChildProcess | undefined;
  private buffer = "";

  private constructor(dir: string) {
    this.dir = dir;
    this.configPath = join(dir, "agent.yaml");
  }

  static async create(configYaml: (dataDir: string) => string): Promise<AgentProcess> {
    const dir = await mkdtemp(join(tmpdir(), "qosprobe-agent-"));
    const agent = new AgentProcess(dir);
    await writeFile(agent.configPath, configYaml(join(dir, "data")));
    return agent;
  }

  /** Start it; `args` go before the subcommand (global options such as --log-level). */
  start(env: Record<string, string> = {}, args: string[] = []): void {
    const child = spawn(process.execPath, [CLI, ...args, "agent", "--config", this.configPath], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env, QOSPROBE_LOG_LEVEL: "info" },
    });
    const onData = (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let nl = this.buffer.indexOf("\n");
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as AgentLogLine);
        } catch {
          this.lines.push({ level: 30, msg: line });
        }
        nl = this.buffer.indexOf("\n");
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.child = child;
  }

  /** Sequence numbers of the results this agent logged as made durable. */
  resultSeqs(): number[] {
    return this.lines.filter((l) => l.msg === "result").map((l) => l.seq as number);
  }

  async waitFor(predicate: (l: AgentLogLine[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!predicate(this.lines)) {
      if (Date.now() > until) {
        throw new Error(
          `agent condition not met in ${timeoutMs} ms; log:\n${this.lines.map((l) => JSON.stringify(l)).join("\n")}`,
        );
      }
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
        throw new Error(
          `agent exited (${this.child.exitCode}); log:\n${this.lines.map((l) => l.msg).join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Send a signal without waiting (SIGHUP). */
  send(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  /** Send a signal and wait for the process to exit; resolves its exit code. */
  async signal(sig: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = once(child, "exit");
    child.kill(sig);
    const [code] = (await exited) as [number | null];
    return code;
  }

  async destroy(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      await this.signal("SIGKILL");
    await rm(this.dir, { recursive: true, force: true });
  }
}
