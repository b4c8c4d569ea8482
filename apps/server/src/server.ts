import { createServer } from "node:net";
import { allRoutes } from "@boxyard/contract";
import { createPool, isUnavailable, MigrationError, migrate, migrationStatus, migrations } from "@boxyard/db";
import { type Clock, type IdGen, randomIds, systemClock } from "@boxyard/platform";
import { startPrivatePostgres } from "@boxyard/postgres";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import pino, { type Logger } from "pino";
import { RouteRegistrar } from "./api/registrar.ts";
import { registerOrgRoutes } from "./api/orgs.ts";
import { registerSystemRoutes } from "./api/system.ts";
import { registerUserRoutes } from "./api/users.ts";
import { bootstrapAdmin } from "./bootstrap.ts";
import { type ServerConfig, StartupError } from "./config.ts";
import { prepareDataDir } from "./data-dir.ts";
import { createApp } from "./http/app.ts";
import type { ReadinessCheck } from "./http/context.ts";
import { createMetrics } from "./http/metrics.ts";

export interface RunningServer {
  /** http://host:port the API listens on. */
  url: string;
  app: FastifyInstance;
  pool: pg.Pool;
  adminTokenPath: string;
  /** Stop accepting, finish in-flight requests, release everything. Boxes keep running. */
  close(): Promise<void>;
}

export interface RunServerOptions {
  config: ServerConfig;
  logger?: Logger;
  clock?: Clock;
  ids?: IdGen;
}

/** Fails fast with a clear message instead of after the database has been started. */
async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new StartupError(
              `${host}:${port} is already in use; stop the other process or pass --listen HOST:PORT`,
            )
          : new StartupError(
              `cannot listen on ${host}:${port} (${err.code ?? err.message}); pass --listen HOST:PORT`,
            ),
      );
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export async function runServer(opts: RunServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { svc: "boxyard" } });
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;

  // Undo steps, registered as each resource is taken, run in reverse on a
  // failure half-way through start-up and on close.
  const cleanups: Array<() => Promise<void>> = [];
  const unwind = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((err) => logger.warn({ err }, "clean-up step failed"));
    cleanups.length = 0;
  };

  try {
    await assertPortFree(config.listen.host, config.listen.port);
    await prepareDataDir(config.dataDir);

    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const pgServer = await startPrivatePostgres({
        dataDir: config.dataDir,
        logger: logger.child({ component: "postgres" }),
        binDir: config.postgresBinDir,
      }).catch((err: unknown) => {
        throw new StartupError(err instanceof Error ? err.message : String(err), { cause: err });
      });
      cleanups.push(() => pgServer.stop());
      databaseUrl = pgServer.url;
    }

    const pool = createPool({ url: databaseUrl });
    cleanups.push(() => pool.end());
    try {
      await pool.query("SELECT 1");
    } catch (err) {
      throw new StartupError(
        config.databaseUrl
          ? `cannot reach the database at --database-url (${(err as Error).message}); check the URL and that PostgreSQL is running`
          : `the private PostgreSQL is not answering (${(err as Error).message}); see ${config.dataDir}/pg/postgres.log`,
        { cause: err },
      );
    }
    try {
      await migrate(pool, migrations, { log: (msg) => logger.info(msg) });
    } catch (err) {
      if (err instanceof MigrationError) throw new StartupError(err.message, { cause: err });
      throw err;
    }

    const boot = await bootstrapAdmin({ pool, dataDir: config.dataDir, clock, ids });
    if (boot.created)
      logger.info({ path: boot.tokenPath }, "created the admin user; its API token is in this file");

    const httpMetrics = createMetrics();
    const readiness = new Map<string, ReadinessCheck>();
    readiness.set("database", async () => {
      try {
        await pool.query("SELECT 1");
        return { ok: true };
      } catch (err) {
        return { ok: false, detail: isUnavailable(err) ? "unreachable" : (err as Error).message };
      }
    });
    readiness.set("migrations", async () => {
      const s = await migrationStatus(pool, migrations);
      return s.pending.length === 0
        ? { ok: true }
        : { ok: false, detail: `pending: ${s.pending.join(", ")}` };
    });

    const deps = { pool, clock, ids, logger, metrics: httpMetrics.registry, readiness };
    const app = createApp({ deps, httpMetrics });
    const routes = new RouteRegistrar(app, deps);
    registerSystemRoutes(routes);
    registerUserRoutes(routes);
    registerOrgRoutes(routes);
    routes.assertComplete(allRoutes);

    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (err) {
      await app.close().catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      throw new StartupError(
        code === "EADDRINUSE"
          ? `${config.listen.host}:${config.listen.port} is already in use; stop the other process or pass --listen HOST:PORT`
          : `cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    cleanups.push(() => app.close());
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : config.listen.port;
    const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
    const url = `http://${host}:${port}`;
    logger.info({ url, dataDir: config.dataDir }, "boxyard server ready");

    return {
      url,
      app,
      pool,
      adminTokenPath: boot.tokenPath,
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
