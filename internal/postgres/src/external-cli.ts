// A standalone PostgreSQL on 127.0.0.1 for running the test suite against an
// "external" server, the way CI or production would:
//
//   npx tsx internal/postgres/src/external-cli.ts start --dir DIR [--port N]
//     prints a superuser postgres:// URL on stdout (reuses a running server)
//   npx tsx internal/postgres/src/external-cli.ts stop --dir DIR
//
// Unlike the private PostgreSQL it is not supervised: it outlives this
// command, as an external server would, and logs to DIR/pg/postgres.log.

import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findPostgresBinaries } from "./binaries.ts";
import { tcpUrl } from "./database-url.ts";
import { errorText, PostgresStartFailedError } from "./errors.ts";
import { ensureCluster, SUPERUSER } from "./init-cluster.ts";
import { type PgLayout, pgLayout, prepareLayout } from "./layout.ts";
import type { Logger } from "./logger.ts";
import { type PgUser, pgUserSpawnOptions, resolvePgUser } from "./pg-user.ts";
import { postgresArgs } from "./postgres-args.ts";
import { isPostgresFor, isProcessAlive } from "./process-state.ts";
import { shutDownStalePostmaster } from "./stale-postmaster.ts";
import { waitForPostgres } from "./wait-for-postgres.ts";

const HOST = "127.0.0.1";

const stderrLogger: Logger = {
  info: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`),
  warn: (fields, message) => process.stderr.write(`warning: ${message} ${JSON.stringify(fields)}\n`),
  error: (fields, message) => process.stderr.write(`error: ${message} ${JSON.stringify(fields)}\n`),
};

async function startExternal(dir: string, requestedPort: number | undefined): Promise<string> {
  const binaries = await findPostgresBinaries();
  const user = await resolvePgUser();
  const layout = pgLayout(dir);
  prepareLayout(layout, user);
  const cluster = await ensureCluster({ layout, binaries, user, logger: stderrLogger });
  const portFile = join(layout.pgDir, "external-port");
  const urlFor = (port: number) =>
    tcpUrl({ user: SUPERUSER, password: cluster.superuserPassword, database: "postgres", host: HOST, port });

  const running = runningPostmaster(layout);
  if (running !== undefined && existsSync(portFile)) {
    const port = Number(readFileSync(portFile, "utf8"));
    if (requestedPort === undefined || requestedPort === port) return urlFor(port);
    await shutDownStalePostmaster({ clusterDir: layout.clusterDir, logger: stderrLogger, timeoutMs: 30_000 });
  }
  const port = requestedPort ?? (await pickFreePort());
  writeFileSync(portFile, String(port), { mode: 0o600 });
  await spawnDetached(layout, user, binaries.postgres, port);
  const url = urlFor(port);
  try {
    await waitForPostgres(url, { timeoutMs: 60_000, giveUp: () => exitedReason(layout) });
  } catch (error) {
    const tail = readFileSync(layout.logFile, "utf8").trimEnd().split("\n").slice(-20).join("\n");
    throw new PostgresStartFailedError(errorText(error), layout.logFile, tail);
  }
  return url;
}

async function spawnDetached(layout: PgLayout, user: PgUser, postgres: string, port: number): Promise<void> {
  // The server writes straight to the log file: nothing of ours stays around to relay its output.
  const logFd = openSync(layout.logFile, "a", 0o600);
  try {
    const child = spawn(postgres, postgresArgs(layout, { kind: "tcp", host: HOST, port }), {
      ...pgUserSpawnOptions(user),
      cwd: layout.clusterDir,
      detached: true,
      stdio: ["ignore", logFd, logFd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.unref();
  } finally {
    closeSync(logFd);
  }
}

function runningPostmaster(layout: PgLayout): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(layout.clusterDir, "postmaster.pid"), "utf8"), 10);
    return isProcessAlive(pid) && isPostgresFor(pid, layout.clusterDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function exitedReason(layout: PgLayout): string | undefined {
  // Before postgres writes its pid file it counts as starting; afterwards a missing process means it died.
  const pidFile = join(layout.clusterDir, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  return runningPostmaster(layout) === undefined ? "postgres exited" : undefined;
}

function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen({ port: 0, host: HOST }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: "string" }, port: { type: "string" } },
  });
  const command = positionals[0];
  if ((command !== "start" && command !== "stop") || values.dir === undefined) {
    process.stderr.write("usage: external-cli.ts start|stop --dir DIR [--port N]\n");
    process.exitCode = 2;
    return;
  }
  if (command === "start") {
    const port = values.port === undefined ? undefined : Number(values.port);
    process.stdout.write(`${await startExternal(values.dir, port)}\n`);
    return;
  }
  const layout = pgLayout(values.dir);
  const pid = await shutDownStalePostmaster({
    clusterDir: layout.clusterDir,
    logger: stderrLogger,
    timeoutMs: 30_000,
  });
  process.stderr.write(pid === undefined ? "not running\n" : `stopped postgres pid ${pid}\n`);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  process.stderr.write(`${code !== undefined ? `${code}: ` : ""}${errorText(error)}\n`);
  process.exitCode = 1;
});
