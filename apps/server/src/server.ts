import { createServer } from "node:net";
import { join } from "node:path";
import {
  memoryPressureFromSetting,
  NodeAgent,
  type NodeAgentOptions,
  StaticImageResolver,
} from "@boxyard/agent";
import { AnchorFile } from "@boxyard/audit";
import { OidcLogin, TicketSigner } from "@boxyard/auth";
import { authorizedStore } from "@boxyard/authz";
import { GatewayRelayConnector, LocalRuntimeConnector, loadOrCreateHostKey } from "@boxyard/gateway";
import { allRoutes } from "@boxyard/contract";
import { createPool, isUnavailable, MigrationError, migrate, migrationStatus, migrations } from "@boxyard/db";
import { type Clock, type IdGen, RateLimiter, randomIds, systemClock } from "@boxyard/platform";
import { loadSecretKeyring } from "@boxyard/secrets";
import {
  createLifecycleMetrics,
  createPhaseHistogram,
  createPoolMetrics,
  InProcessNodeLink,
  PgListener,
  PoolController,
  Reconciler,
  type ReconcilerOptions,
} from "@boxyard/lifecycle";
import { startPrivatePostgres } from "@boxyard/postgres";
import type { Runtime } from "@boxyard/runtime";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import pino, { type Logger } from "pino";
import { nodeAuthorizer, registerAgentTransportRoutes } from "./api/agent-transport.ts";
import { registerAuditRoutes } from "./api/audit.ts";
import { registerAuthRoutes } from "./api/auth-routes.ts";
import { registerBoxEventRoutes } from "./api/box-events.ts";
import { registerBoxHistoryRoutes } from "./api/box-history.ts";
import { registerCliLoginRoutes } from "./api/cli-login.ts";
import { registerBoxExecRoutes } from "./api/box-exec.ts";
import { registerBoxRoutes } from "./api/boxes.ts";
import type { LifecycleDeps } from "./api/lifecycle-deps.ts";
import { registerGatewayTransportRoutes } from "./api/gateway-transport.ts";
import { registerInfoRoute } from "./api/info.ts";
import { registerNodeRoutes } from "./api/nodes.ts";
import { registerOperationRoutes } from "./api/operations.ts";
import { RouteRegistrar } from "./api/registrar.ts";
import { registerOrgRoutes } from "./api/orgs.ts";
import { registerPortRoutes } from "./api/ports.ts";
import { registerQuotaRoutes } from "./api/quotas.ts";
import { registerSshKeyRoutes } from "./api/ssh-keys.ts";
import { registerSystemRoutes } from "./api/system.ts";
import { registerSecretRoutes } from "./api/secrets.ts";
import { registerTeamRoutes } from "./api/teams.ts";
import { acceptImageBodies, registerImageRoutes } from "./api/images.ts";
import { registerTemplateBuildRoutes } from "./api/template-builds.ts";
import { registerPrebuildRoutes } from "./api/prebuilds.ts";
import { registerPoolRoutes } from "./api/pools.ts";
import { registerTemplateRoutes, resolveOrgTemplate } from "./api/templates.ts";
import { registerUsageRoutes } from "./api/usage.ts";
import { registerTerminalRoutes } from "./api/terminal.ts";
import { registerUserRoutes } from "./api/users.ts";
import { bootstrapAdmin } from "./bootstrap.ts";
import { type ServerConfig, StartupError } from "./config.ts";
import { prepareDataDir } from "./data-dir.ts";
import { createApp } from "./http/app.ts";
import type { ReadinessCheck } from "./http/context.ts";
import { createMetrics } from "./http/metrics.ts";
import { SseStreams } from "./http/sse.ts";
import { databaseGatewayControl, dispatchUpgrades, startGateway } from "./gateway-wiring.ts";
import { startLayerGc } from "./layer-gc-wiring.ts";
import { createLocalNode, type LocalNode } from "./node-runtime.ts";
import { localCapacity, localNodeName } from "./node-identity.ts";
import { instrumentRuntime } from "./runtime-metrics.ts";
import { registerPreviewRoutes } from "./web/preview.ts";
import { registerWebRoutes } from "./web/routes.ts";

export interface RunningServer {
  /** http://host:port the API listens on. */
  url: string;
  app: FastifyInstance;
  pool: pg.Pool;
  adminTokenPath: string;
  /** The box lifecycle parts this process runs (role `all`: both). */
  lifecycle: { reconciler?: Reconciler; agent?: NodeAgent; runtime?: Runtime; link: InProcessNodeLink };
  /** Stop accepting, finish in-flight requests, release everything. Boxes keep running. */
  close(): Promise<void>;
}

export interface RunServerOptions {
  config: ServerConfig;
  logger?: Logger;
  clock?: Clock;
  ids?: IdGen;
  /** Test and tuning hooks for the lifecycle engine; production uses the defaults. */
  lifecycle?: LifecycleOverrides;
}

export interface LifecycleOverrides {
  /** Use this runtime object instead of the one `--runtime` names (tests share a FakeRuntime). */
  runtime?: Runtime;
  reconciler?: Partial<Omit<ReconcilerOptions, "pool" | "clock" | "logger">>;
  agent?: Partial<Omit<NodeAgentOptions, "runtime" | "link" | "clock" | "logger">>;
  sseHeartbeatMs?: number;
  nodeHeartbeatTimeoutMs?: number;
  /** Warm pool controller: a full pass at least this often (default 2 s). */
  poolPollMs?: number;
  /** The HTTP server's idle timeout (default 60 s; tests shorten it). */
  httpIdleTimeoutMs?: number;
}

/** Fails fast with a clear message instead of after the database has been started. */
export async function assertPortFree(host: string, port: number, flag = "--listen"): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new StartupError(
              `${host}:${port} is already in use; stop the other process or pass ${flag} HOST:PORT`,
            )
          : new StartupError(
              `cannot listen on ${host}:${port} (${err.code ?? err.message}); pass ${flag} HOST:PORT`,
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

  if (config.role === "agent" || config.role === "gateway")
    throw new Error(`role ${config.role} runs through runDataPlane, not runServer`);
  try {
    await assertPortFree(config.listen.host, config.listen.port);
    if (config.role === "all")
      await assertPortFree(config.sshListen.host, config.sshListen.port, "--ssh-listen");
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
    // Ready only once every component below has started (the gateway last).
    let started = false;
    readiness.set("startup", async () => (started ? { ok: true } : { ok: false, detail: "starting" }));
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

    // The secrets master key: from the environment, else a key file made in the data dir at first start.
    const secrets = await loadSecretKeyring({ dataDir: config.dataDir }).catch((err: unknown) => {
      throw new StartupError((err as Error).message, { cause: err });
    });
    const deps = {
      pool,
      clock,
      ids,
      logger,
      metrics: httpMetrics.registry,
      readiness,
      ...(config.rateLimit ? { rateLimiter: new RateLimiter(config.rateLimit) } : {}),
      secrets,
    };
    const overrides = opts.lifecycle ?? {};
    const nodeHeartbeatTimeoutMs = overrides.nodeHeartbeatTimeoutMs ?? 30_000;
    const listener = new PgListener({ pool, logger: logger.child({ component: "listen" }) });
    await listener.start();
    cleanups.push(() => listener.close());
    const lifecycleMetrics = createLifecycleMetrics(httpMetrics.registry, pool);
    createPoolMetrics(httpMetrics.registry, pool);
    const link = new InProcessNodeLink({ pool, ids, listener, secrets, clock, metrics: lifecycleMetrics });
    const sse = new SseStreams();
    const lifecycleDeps: LifecycleDeps = {
      link,
      listener,
      sse,
      execMaxOutputBytes: 1024 * 1024,
      sseHeartbeatMs: overrides.sseHeartbeatMs ?? 15_000,
      metrics: lifecycleMetrics,
    };

    // The node this process runs boxes on (role `all`), prepared before the
    // routes so that a missing runtime stops start-up with a clear message.
    let localNode: LocalNode | undefined;
    if (config.role === "all") {
      localNode = overrides.runtime
        ? { runtime: overrides.runtime, images: new StaticImageResolver(), close: async () => {} }
        : await createLocalNode(config, logger);
      const node = localNode;
      cleanups.push(() => node.close());
    }
    const gatewayDir = join(config.dataDir, "gateway");
    const hostKey = await loadOrCreateHostKey(gatewayDir);
    const tickets = await TicketSigner.fromFile(join(gatewayDir, "ticket-key"));
    const anchors = new AnchorFile(join(config.dataDir, "audit", "anchors.jsonl"));
    let oidc: OidcLogin | undefined;
    if (config.oidc) {
      oidc = await OidcLogin.discover({
        issuer: config.oidc.issuer,
        clientId: config.oidc.clientId,
        ...(config.oidc.clientSecret ? { clientSecret: config.oidc.clientSecret } : {}),
        redirectUri: `${config.publicUrl}/auth/callback`,
        allowedDomains: config.oidc.allowedDomains,
      }).catch((err: unknown) => {
        throw new StartupError(
          `cannot reach the identity provider at ${config.oidc?.issuer} (${(err as Error).message}); check --oidc-issuer`,
          { cause: err },
        );
      });
    }
    let sshAddress: { host: string; port: number } | null = null;

    const app = createApp({ deps, httpMetrics, idleTimeoutMs: overrides.httpIdleTimeoutMs });
    const routes = new RouteRegistrar(app, deps);
    registerSystemRoutes(routes);
    registerUserRoutes(routes);
    registerOrgRoutes(routes);
    registerBoxRoutes(routes, lifecycleDeps);
    registerBoxExecRoutes(routes, lifecycleDeps);
    registerBoxEventRoutes(routes, lifecycleDeps);
    registerBoxHistoryRoutes(routes);
    registerOperationRoutes(routes);
    registerNodeRoutes(routes, { heartbeatTimeoutMs: nodeHeartbeatTimeoutMs });
    registerAgentTransportRoutes(routes, lifecycleDeps);
    registerSshKeyRoutes(routes);
    registerQuotaRoutes(routes);
    registerTeamRoutes(routes);
    registerSecretRoutes(routes);
    registerTemplateRoutes(routes);
    registerPoolRoutes(routes);
    registerTemplateBuildRoutes(routes, lifecycleDeps);
    registerPrebuildRoutes(routes, lifecycleDeps);
    acceptImageBodies(app);
    registerImageRoutes(routes, {
      dataDir: config.dataDir,
      maxBytes: config.imageMaxBytes,
      maxUnpackedBytes: config.imageMaxUnpackedBytes,
      authorizeNode: nodeAuthorizer(pool),
    });
    registerUsageRoutes(routes, config.prices);
    registerAuditRoutes(routes, anchors);
    // Without a gateway of its own (role control), clients are sent to the
    // gateway that registered and was heard from most recently.
    const gatewayStore = authorizedStore(pool, { kind: "system", name: "gateway" });
    const remoteGateway = () => (sshAddress ? Promise.resolve(null) : gatewayStore.currentGateway(60_000));
    const gatewayWsBase = async () => {
      const gw = await remoteGateway();
      return gw ? gw.http_url.replace(/^http/, "ws") : null;
    };
    registerTerminalRoutes(routes, tickets, gatewayWsBase);
    registerPortRoutes(routes);
    // A public URL defaulted from --listen with port 0 gets the real port once listening.
    let publicUrl = config.publicUrl;
    registerGatewayTransportRoutes(routes, { tickets, publicUrl: () => publicUrl });
    registerInfoRoute(routes, async () => {
      const gw = await remoteGateway();
      return {
        sshGateway: sshAddress
          ? { ...sshAddress, hostKey: hostKey.publicKey }
          : gw
            ? { host: gw.ssh_host, port: gw.ssh_port, hostKey: gw.host_key }
            : null,
        oidc: oidc !== undefined,
      };
    });
    routes.assertComplete(allRoutes);
    registerWebRoutes(app, { gatewayWsBase, oidc: oidc !== undefined });
    // Previews reach boxes on this node directly; with no node of its own
    // (role control), through the registered gateway's relay.
    const previewConnector = localNode
      ? new LocalRuntimeConnector(localNode.runtime)
      : new GatewayRelayConnector({
          signer: tickets,
          gatewayUrl: async () => (await gatewayStore.currentGateway(60_000))?.http_url ?? null,
        });
    const previews = registerPreviewRoutes(app, deps, () => previewConnector);
    registerCliLoginRoutes(app, { deps, signer: tickets });
    registerAuthRoutes(app, {
      deps,
      signer: tickets,
      ...(oidc ? { oidc } : {}),
      publicUrl: config.publicUrl,
    });

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
    cleanups.push(async () => {
      // close() closes the connections idle at that moment; one serving a
      // request then (an agent's long poll) goes idle later and would linger
      // until its keep-alive timeout, so keep closing idle ones until done.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
    });
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : config.listen.port;
    const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
    const url = `http://${host}:${port}`;
    if (new URL(publicUrl).port === "0") publicUrl = url;

    const lifecycle: RunningServer["lifecycle"] = { link };
    if (config.role === "all" || config.role === "control") {
      const reconciler = new Reconciler({
        pool,
        clock,
        logger: logger.child({ component: "reconciler" }),
        listener,
        metrics: lifecycleMetrics,
        nodeHeartbeatTimeoutMs,
        ...overrides.reconciler,
      });
      reconciler.start();
      cleanups.push(() => reconciler.stop());
      lifecycle.reconciler = reconciler;
      // Warm pools: ready, ownerless boxes per template for creates to claim.
      const pools = new PoolController({
        pool,
        ids,
        logger: logger.child({ component: "pools" }),
        listener,
        resolveTemplate: (orgId, name) =>
          resolveOrgTemplate(
            authorizedStore(pool, { kind: "system", name: "pool-manager" }),
            orgId,
            name,
            undefined,
            { withPrebuild: true },
          ),
        ...(overrides.poolPollMs !== undefined
          ? { pollMs: overrides.poolPollMs, notifyDelayMs: Math.min(overrides.poolPollMs, 1_000) }
          : {}),
      });
      pools.start();
      cleanups.push(() => pools.stop());
    }
    if (localNode) {
      const runtime = instrumentRuntime(localNode.runtime, httpMetrics.registry);
      const createPhases = createPhaseHistogram(httpMetrics.registry);
      const agent = new NodeAgent({
        runtime,
        images: localNode.images,
        link,
        nodeName: localNodeName(),
        clock,
        logger: logger.child({ component: "agent" }),
        capacity: await localCapacity(config.dataDir),
        coldPauseAfterMs: config.coldPauseAfterSeconds * 1000,
        memoryPressure: await memoryPressureFromSetting(config.coldPauseMemoryLow),
        onCreatePhase: (phase, seconds) => createPhases.labels(phase).observe(seconds),
        ...overrides.agent,
      });
      await agent.start();
      // Stopping the agent leaves every box running (contract.md "SIGTERM").
      cleanups.push(() => agent.stop());
      const layerGc = startLayerGc({
        node: localNode,
        config,
        registry: httpMetrics.registry,
        logger,
        wanted: () => agent.wantedLayers(),
      });
      if (layerGc) cleanups.push(() => layerGc.stop());
      readiness.set("agent", async () => agent.readiness());
      lifecycle.agent = agent;
      lifecycle.runtime = runtime;
      const gatewayLogger = logger.child({ component: "gateway" });
      const gateway = await startGateway({
        control: databaseGatewayControl({ pool, ids, clock, logger: gatewayLogger }),
        connector: new LocalRuntimeConnector(runtime),
        logger: gatewayLogger,
        hostKey: hostKey.privateKey,
        listen: config.sshListen,
        tickets,
        metrics: httpMetrics.registry,
      });
      cleanups.push(() => gateway.close());
      sshAddress = gateway.sshAddress;
      dispatchUpgrades(app.server, [previews.handleUpgrade, gateway.handleUpgrade]);
      readiness.set("gateway", async () => ({ ok: true }));
    }
    // Calls into remote agents whose caller died mid-wait leave rows behind.
    const commandSweep = setInterval(() => {
      authorizedStore(pool, { kind: "system", name: "janitor" })
        .deleteExpiredNodeCommands()
        .catch((err) => logger.warn({ err }, "node command sweep failed"));
    }, 60_000);
    commandSweep.unref();
    cleanups.push(async () => clearInterval(commandSweep));
    if (!localNode) dispatchUpgrades(app.server, [previews.handleUpgrade]);
    // Chain heads go outside the database every minute, and at shutdown, so a
    // cut-off tail of the audit log is detectable (B9).
    const anchorTimer = setInterval(() => {
      anchors
        .exportHeads(pool, clock.now())
        .catch((err) => logger.warn({ err }, "audit anchor export failed"));
    }, 60_000);
    anchorTimer.unref();
    cleanups.push(async () => {
      clearInterval(anchorTimer);
      await anchors.exportHeads(pool, clock.now()).catch(() => {});
    });
    // Event streams never go idle, so they are ended before the HTTP server closes.
    cleanups.push(async () => sse.closeAll());
    started = true;
    logger.info({ url, dataDir: config.dataDir }, "boxyard server ready");

    return {
      url,
      app,
      pool,
      adminTokenPath: boot.tokenPath,
      lifecycle,
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
