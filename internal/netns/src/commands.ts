// How the box network runs ip(8) and nft(8). Injectable so unit tests can
// script the host; the default spawns the real binaries without a shell.
import { runOffThread } from "@boxyard/platform";
import { CommandFailedError } from "./errors.ts";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (argv: readonly string[], opts?: { input?: string }) => Promise<CommandResult>;

export const spawnRunner: CommandRunner = async (argv, opts) => {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("empty command");
  // From a worker thread: a spawn on the event loop blocks it until the child has exec'd.
  const r = await runOffThread({ file, args, input: opts?.input ?? "", timeoutMs: 120_000 });
  if (r.spawnError)
    throw Object.assign(new Error(`${file}: ${r.spawnError.message}`), { code: r.spawnError.code });
  return { exitCode: r.code ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
};

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
