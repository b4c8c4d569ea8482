import {
  type RawServerFlags,
  resolveServerConfig,
  runDataPlane,
  runMigrateCommand,
  runServer,
} from "@boxyard/server";
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
      "--control-url <url>",
      "roles agent and gateway: the control plane's URL (env BOXYARD_CONTROL_URL)",
    )
    .option(
      "--control-token-file <file>",
      "roles agent and gateway: file holding a site admin's API token to register with (or env BOXYARD_CONTROL_TOKEN)",
    )
    .option(
      "--image-max-bytes <n>",
      "largest image archive an upload may be, in bytes (env BOXYARD_IMAGE_MAX_BYTES, default 2 GiB)",
    )
    .option(
      "--log-level <level>",
      "fatal | error | warn | info | debug (env BOXYARD_LOG_LEVEL, default info)",
    )
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  boxyard server --data-dir /var/lib/boxyard --listen 0.0.0.0:7080",
        "",
        "  # Split: control plane, then a node agent and a gateway on the box machine",
        "  boxyard server --role control --database-url postgres://boxyard@db/boxyard",
        "  boxyard server --role agent --control-url http://cp:7080 --control-token-file admin-token --listen 127.0.0.1:7081",
        "  boxyard server --role gateway --control-url http://cp:7080 --control-token-file admin-token --listen 0.0.0.0:7082",
        "",
      ].join("\n"),
    )
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
      if (config.role === "agent" || config.role === "gateway") {
        const dp = await runDataPlane({ config });
        if (!stopRequested) {
          process.stderr.write(`\n  ${dp.summary.join("\n  ")}\n\n`);
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
        dp.logger.info({ signal: stopRequested }, "shutting down; boxes and sessions' boxes keep running");
        await dp.close();
        return;
      }
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
