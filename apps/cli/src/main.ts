import { Command, CommanderError } from "commander";
import { registerServerCommands } from "./commands/server.ts";

export const VERSION = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("boxyard")
    .description("Boxyard: remote dev boxes behind a real isolation boundary")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(str) });
  registerServerCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`boxyard: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
