// The PostgreSQL that `boxyard server` runs in DATA_DIR/pg when it is given
// no --database-url: initialised on first start, reused afterwards, reachable
// only over a unix socket, and restarted if it dies.

import { APP_DATABASE, APP_ROLE, ensureAppDatabase } from "./app-database.ts";
import { findPostgresBinaries } from "./binaries.ts";
import { CappedLog } from "./capped-log.ts";
import { socketUrl } from "./database-url.ts";
import { PostgresStartFailedError } from "./errors.ts";
import { ensureCluster, SUPERUSER } from "./init-cluster.ts";
import { pgLayout, prepareLayout } from "./layout.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { resolvePgUser } from "./pg-user.ts";
import { shutDownStalePostmaster } from "./stale-postmaster.ts";
import { type PostgresEvent, PostgresSupervisor } from "./supervisor.ts";

export interface PrivatePostgresOptions {
  /** Boxyard's data directory; PostgreSQL lives in `dataDir/pg`. */
  dataDir: string;
  logger?: Logger;
  /** Directory with `postgres` and `initdb`; searched for when absent. */
  binDir?: string;
  /** System user PostgreSQL runs as. Default: "boxyard" when running as root, else the current user. */
  runAsUser?: string;
  restart?: { minBackoffMs?: number; maxBackoffMs?: number };
  /** How long a start (including crash recovery) may take. Default 60 s. */
  startTimeoutMs?: number;
  /** How long stop() waits for a fast shutdown before SIGKILL. Default 30 s. */
  stopTimeoutMs?: number;
  /** Cap of postgres.log before it rotates to postgres.log.1. Default 10 MiB. */
  logMaxBytes?: number;
  onEvent?: (event: PostgresEvent) => void;
}

export interface PrivatePostgres {
  /** The application role on its own database, over the unix socket. */
  url: string;
  /** The superuser on the `postgres` database, for administration and tests. */
  superuserUrl: string;
  /** True when this start ran initdb. */
  created: boolean;
  /** The current postmaster's pid, undefined while it is down. */
  pid(): number | undefined;
  /** Fast shutdown; SIGKILL after stopTimeoutMs. Idempotent. */
  stop(): Promise<void>;
}

export async function startPrivatePostgres(options: PrivatePostgresOptions): Promise<PrivatePostgres> {
  const logger = options.logger ?? silentLogger;
  // Everything that can be checked without touching the disk comes first, so
  // a missing binary or user leaves nothing behind.
  const binaries = await findPostgresBinaries(options.binDir !== undefined ? { binDir: options.binDir } : {});
  const user = await resolvePgUser(options.runAsUser !== undefined ? { name: options.runAsUser } : {});
  const layout = pgLayout(options.dataDir);
  prepareLayout(layout, user);

  const log = new CappedLog({
    path: layout.logFile,
    ...(options.logMaxBytes && { maxBytes: options.logMaxBytes }),
  });
  try {
    const cluster = await ensureCluster({ layout, binaries, user, logger });
    const superuserUrl = socketUrl({
      user: SUPERUSER,
      password: cluster.superuserPassword,
      database: "postgres",
      socketDir: layout.runDir,
    });
    const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    const stale = await shutDownStalePostmaster({
      clusterDir: layout.clusterDir,
      logger,
      timeoutMs: stopTimeoutMs,
    });
    if (stale !== undefined) log.note(`shut down postgres pid ${stale} left by a previous server`);

    const supervisor = new PostgresSupervisor({
      binaries,
      layout,
      user,
      log,
      logger,
      readinessUrl: superuserUrl,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      stopTimeoutMs,
      minBackoffMs: options.restart?.minBackoffMs ?? 100,
      maxBackoffMs: options.restart?.maxBackoffMs ?? 10_000,
      ...(options.onEvent && { onEvent: options.onEvent }),
    });
    await supervisor.start();
    let appPassword: string;
    try {
      appPassword = await ensureAppDatabase({ superuserUrl, passwordFile: layout.appPasswordFile });
    } catch (error) {
      await supervisor.stop();
      throw new PostgresStartFailedError(
        `creating the ${APP_DATABASE} database failed: ${error}`,
        log.path,
        log.tail(),
      );
    }
    logger.info(
      { pid: supervisor.pid(), socketDir: layout.runDir, created: cluster.created },
      "PostgreSQL ready",
    );

    let stopped: Promise<void> | undefined;
    return {
      url: socketUrl({
        user: APP_ROLE,
        password: appPassword,
        database: APP_DATABASE,
        socketDir: layout.runDir,
      }),
      superuserUrl,
      created: cluster.created,
      pid: () => supervisor.pid(),
      stop: () => {
        stopped ??= supervisor.stop().finally(() => log.close());
        return stopped;
      },
    };
  } catch (error) {
    log.close();
    throw error;
  }
}
