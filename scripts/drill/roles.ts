import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The drill runs the roles as deployed: `node dist/agent/cli.js agent|collector --config FILE`, each a
 * child process whose stdout and stderr go straight to a log file (appended across restarts, so a
 * SIGKILL loses at most what the child itself had not written yet). Nothing here knows what a role does.
 */

/** The compiled CLI next to this file's compiled copy (dist/scripts/drill → dist/agent/cli.js). */
export const CLI = fileURLToPath(new URL("../../agent/cli.js", import.meta.url));

/** Every role process started and not yet reaped, SIGKILLed on any exit of the drill. */
const live = new Set<ChildProcess>();

export function killAllRolesNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
}

export interface LogLine {
  msg?: string;
  time?: number;
  [key: string]: unknown;
}

/** Every JSON line of a log file (pino), skipping anything else a child printed. */
export function readLogLines(path: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const lines: LogLine[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(raw) as LogLine);
    } catch {
      // A line cut by SIGKILL: the next start appends after it.
    }
  }
  return lines;
}

export class RoleProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Log lines before this index belong to earlier runs of the process. */
  private linesAtStart = 0;

  constructor(
    readonly name: string,
    private readonly args: readonly string[],
    readonly logPath: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.linesAtStart = readLogLines(this.logPath).length;
    const fd = openSync(this.logPath, "a");
    try {
      const child = spawn(process.execPath, [CLI, ...this.args], {
        stdio: ["ignore", fd, fd],
        // JSON logs (stderr is a file, not a TTY) at info: the drill reads the "result" lines.
        env: { ...process.env, QOSPROBE_LOG_LEVEL: "info", ...this.env },
      });
      live.add(child);
      this.exited = new Promise<void>((resolve) => {
        child.once("exit", () => {
          live.delete(child);
          resolve();
        });
      });
      this.child = child;
    } finally {
      closeSync(fd);
    }
  }

  /** Log lines of the current run. */
  lines(): LogLine[] {
    return readLogLines(this.logPath).slice(this.linesAtStart);
  }

  /** Wait until a line of the current run has `msg` (or matches), failing if the process exits first. */
  async waitForLog(match: string | ((line: LogLine) => boolean), timeoutMs: number): Promise<void> {
    const test = typeof match === "string" ? (l: LogLine) => l.msg === match : match;
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.lines().some(test)) return;
      if (!this.running)
        throw new Error(`${this.name} exited before logging ${String(match)}; see ${this.logPath}`);
      if (Date.now() > until) {
        throw new Error(
          `${this.name} did not log ${String(match)} within ${timeoutMs} ms; see ${this.logPath}`,
        );
      }
      await sleep(100);
    }
  }

  send(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /** Send `signal` and wait for the exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 25_000): Promise<void> {
    if (!this.running) return;
    this.child?.kill(signal);
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    return this.stop("SIGKILL");
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
