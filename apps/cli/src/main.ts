import { Command, CommanderError } from "commander";
import { registerAccountCommands } from "./commands/account.ts";
import { registerAdminCommands } from "./commands/admin.ts";
import { registerBoxHistoryCommands } from "./commands/box-history.ts";
import { registerBoxCommands } from "./commands/boxes.ts";
import { registerImageCommands } from "./commands/images.ts";
import { registerSecretCommands } from "./commands/secrets.ts";
import { registerSshCommands } from "./commands/ssh.ts";
import { registerTemplateCommands } from "./commands/templates.ts";
import { registerServerCommands } from "./commands/server.ts";
import { reportError } from "./output.ts";
import { VERSION } from "./version.ts";

export { VERSION };

export function buildProgram(): Command {
  const program = new Command("boxyard")
    .description("Boxyard: remote dev boxes behind a real isolation boundary")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(str) });
  registerServerCommands(program);
  registerAccountCommands(program);
  registerBoxCommands(program);
  registerBoxHistoryCommands(program);
  registerSshCommands(program);
  registerTemplateCommands(program);
  registerImageCommands(program);
  registerSecretCommands(program);
  registerAdminCommands(program);
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
    return reportError(err);
  }
}
