// How the box network runs ip(8) and nft(8). Injectable so unit tests can
// script the host; the default spawns the real binaries without a shell.
import { spawn } from "node:child_process";
import { CommandFailedError } from "./errors.ts";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (argv: readonly string[], opts?: { input?: string }) => Promise<CommandResult>;

export const spawnRunner: CommandRunner = (argv, opts) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) {
      reject(new Error("empty command"));
      return;
    }
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    // A command that fails before reading its input closes the pipe; the
    // exit status, not EPIPE, is what the caller needs to see.
    child.stdin.on("error", () => undefined);
    child.on("close", (code, signal) => {
      resolve({
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.end(opts?.input ?? "");
  });

/** Runs a command and throws CommandFailedError on a non-zero exit. */
export async function runChecked(
  runner: CommandRunner,
  argv: readonly string[],
  input?: string,
): Promise<CommandResult> {
  const result = await runner(argv, input === undefined ? undefined : { input });
  if (result.exitCode !== 0) throw new CommandFailedError(argv, result.exitCode, result.stderr);
  return result;
}
