import { spawn } from "node:child_process";
import { CLI } from "./agent-process.js";

/** One run of the compiled CLI as an operator runs it: exit code, stdout, stderr. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    // A bound, not a timing assertion: a CLI that hangs fails here instead of hanging the suite.
    const limit = opts.timeoutMs ?? 20_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`qos-probe ${args.join(" ")} still running after ${limit} ms:\n${stderr}`));
    }, limit);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
