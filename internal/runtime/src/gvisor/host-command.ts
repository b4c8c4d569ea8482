// Running short host commands (runsc, mount, mkfs...) with a deadline and
// captured output, spawned from a worker thread (see off-thread-spawn.ts).
// Long-lived processes (sandboxes, sessions) do not go through here.

import { runOffThread } from "@boxyard/platform";

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

export async function hostCommand(
  cmd: string,
  args: string[],
  opts: HostCommandOptions = {},
): Promise<HostCommandResult> {
  // From a worker thread: a spawn on the event loop blocks it until the child has exec'd.
  const r = await runOffThread({ file: cmd, args, cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 60_000 });
  if (r.spawnError) {
    const result = { code: null, signal: null, stdout: "", stderr: r.spawnError.message };
    throw new HostCommandError(cmd, args, result, r.spawnError.code);
  }
  const result = { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  if ((opts.check ?? true) && r.code !== 0) throw new HostCommandError(cmd, args, result);
  return result;
}
