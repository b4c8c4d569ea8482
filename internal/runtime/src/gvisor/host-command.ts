// Running short host commands (runsc, mount, mkfs...) with a deadline and
// captured output. Long-lived processes (sandboxes, sessions) do not go
// through here.

import { spawn } from "node:child_process";

export interface HostCommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface HostCommandOptions {
  timeoutMs?: number;
  cwd?: string;
  /** Throw HostCommandError on a non-zero exit (default true). */
  check?: boolean;
}

export class HostCommandError extends Error {
  readonly result: HostCommandResult;
  readonly errno?: string;

  constructor(cmd: string, args: string[], result: HostCommandResult, errno?: string) {
    // runsc prints the cause on its first line and a Go stack trace after it.
    const detail = (result.stderr || result.stdout).trim().split("\n")[0]?.slice(0, 500) ?? "";
    super(`${cmd} ${args.join(" ")} failed (${result.signal ?? result.code}): ${detail}`);
    this.name = "HostCommandError";
    this.result = result;
    if (errno !== undefined) this.errno = errno;
  }
}

export function hostCommand(
  cmd: string,
  args: string[],
  opts: HostCommandOptions = {},
): Promise<HostCommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      if (stdout.length < 1 << 20) stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      if (stderr.length < 1 << 20) stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const result = { code: null, signal: null, stdout, stderr: err.message };
      reject(new HostCommandError(cmd, args, result, err.code));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr };
      if ((opts.check ?? true) && code !== 0) reject(new HostCommandError(cmd, args, result));
      else resolve(result);
    });
  });
}
