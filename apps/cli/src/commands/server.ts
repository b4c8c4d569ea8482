import { type RawServerFlags, resolveServerConfig, runMigrateCommand, runServer } from "@boxyard/server";
import type { Command } from "commander";

const DATA_DIR_HELP = "data directory (env BOXYARD_DATA_DIR, default ./.boxyard)";
const DB_HELP =
  "external PostgreSQL URL (env BOXYARD_DATABASE_URL); without it a private PostgreSQL runs in the data dir";

export function registerServerCommands(program: Command): void {
  program
    .command("server")
    .description("Run the Boxyard server (all-in-one by default)")
    .option("--data-dir <dir>", DATA_DIR_HELP)
    .option("--listen <host:port>", "API and dashboard address (env BOXYARD_LISTEN, default 127.0.0.1:7080)")
    .option(
      "--ssh-listen <host:port>",
      "SSH gateway address (env BOXYARD_SSH_LISTEN, default 127.0.0.1:2222)",
    )
    .option("--database-url <url>", DB_HELP)
    .option(
      "--runtime <name>",
      "box runtime: gvisor | microvm | container (env BOXYARD_RUNTIME, default gvisor)",
    )
    .option("--role <role>", "all | control | agent | gateway (env BOXYARD_ROLE, default all)")
    .option(
      "--log-level <level>",
      "fatal | error | warn | info | debug (env BOXYARD_LOG_LEVEL, default info)",
    )
    .addHelpText("after", "\nExample:\n  boxyard server --data-dir /var/lib/boxyard --listen 0.0.0.0:7080\n")
    .action(async (flags: RawServerFlags) => {
      const config = resolveServerConfig(flags);
      // Signals are caught from the start: one that arrives while the server
      // is still starting shuts it down as soon as it is up.
      let stopRequested: string | undefined;
      let wake: (() => void) | undefined;
      const onSignal = (signal: string) => {
        stopRequested ??= signal;
        wake?.();
      };
      process.on("SIGTERM", () => onSignal("SIGTERM"));
      process.on("SIGINT", () => onSignal("SIGINT"));
      const server = await runServer({ config });
      if (!stopRequested) {
        process.stderr.write(
          [
            "",
            `  Boxyard is running.`,
            `  Dashboard and API:  ${server.url}/`,
            `  SSH gateway:        ${config.sshListen.host}:${config.sshListen.port}`,
            `  Admin API token:    ${server.adminTokenPath}`,
            `  Data directory:     ${config.dataDir}`,
            "",
            "",
          ].join("\n"),
        );
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      server.app.log.info({ signal: stopRequested }, "shutting down; boxes keep running");
      await server.close();
    });

  program
    .command("migrate")
    .description("Apply database schema migrations (the server also does this at start)")
    .option("--data-dir <dir>", DATA_DIR_HELP)
    .option("--database-url <url>", DB_HELP)
    .option("--status", "only show applied and pending migrations")
    .addHelpText("after", "\nExample:\n  boxyard migrate --database-url postgres://boxyard@db/boxyard\n")
    .action(async (flags: RawServerFlags & { status?: boolean }) => {
      await runMigrateCommand(flags, {
        statusOnly: flags.status === true,
        print: (line) => process.stdout.write(`${line}\n`),
      });
    });
}
