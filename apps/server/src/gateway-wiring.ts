import { recordAudit } from "@boxyard/audit";
import type { TicketSigner } from "@boxyard/auth";
import { getBoxById, inTx } from "@boxyard/db";
import {
  type BoxRoute,
  CachedGatewayDirectory,
  DbGatewayDirectory,
  LocalRuntimeConnector,
  type SessionEvent,
  startSshGateway,
  WebTerminalHub,
} from "@boxyard/gateway";
import { changeBoxDesiredState } from "@boxyard/lifecycle";
import type { Clock, IdGen } from "@boxyard/platform";
import type { Runtime } from "@boxyard/runtime";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { Logger } from "pino";
import { Gauge, Histogram, type Registry } from "prom-client";
import { admitWithinQuota } from "./api/quotas.ts";

const TERMINAL_WS =
  /^\/api\/v1\/orgs\/([a-z0-9][a-z0-9-]{0,62})\/boxes\/([a-z0-9][a-z0-9-]{0,62})\/terminal\/ws(\?|$)/;

export interface GatewayWiring {
  sshAddress: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * The gateway in all-in-one mode: the SSH server and the browser terminal's
 * WebSocket, both running sessions inside boxes on this node. Logins are
 * checked against a cached directory, so they keep working for a while when
 * the database is down; every session is an audit event.
 */
export async function startGateway(opts: {
  app: FastifyInstance;
  pool: pg.Pool;
  clock: Clock;
  ids: IdGen;
  logger: Logger;
  runtime: Runtime;
  hostKey: string;
  listen: { host: string; port: number };
  tickets: TicketSigner;
  metrics: Registry;
}): Promise<GatewayWiring> {
  const { logger } = opts;
  const openSessions = new Gauge({
    name: "boxyard_gateway_sessions",
    help: "Open gateway sessions by kind",
    labelNames: ["kind"] as const,
    registers: [opts.metrics],
  });
  const sessionSeconds = new Histogram({
    name: "boxyard_gateway_session_duration_seconds",
    help: "Length of closed gateway sessions",
    labelNames: ["kind"] as const,
    buckets: [1, 10, 60, 600, 3600, 4 * 3600, 12 * 3600],
    registers: [opts.metrics],
  });

  const audit = (e: {
    orgId: string;
    userId: string;
    username?: string;
    boxId: string;
    boxName?: string;
    action: string;
    details: Record<string, unknown>;
  }) =>
    inTx(opts.pool, (tx) =>
      recordAudit(tx, {
        orgId: e.orgId,
        actor: { kind: "user", id: e.userId, name: e.username ?? null },
        action: e.action,
        target: { kind: "box", id: e.boxId, name: e.boxName ?? null },
        result: "success",
        details: e.details,
        at: opts.clock.now(),
      }),
    ).catch((err) => logger.warn({ err }, "could not audit a gateway session (database down?)"));

  const onSessionEvent = (e: SessionEvent) => {
    if (e.type === "open") openSessions.labels(e.kind).inc();
    else {
      openSessions.labels(e.kind).dec();
      sessionSeconds.labels(e.kind).observe((e.durationMs ?? 0) / 1000);
    }
    void audit({
      orgId: e.box.orgId,
      userId: e.user.userId,
      username: e.user.username,
      boxId: e.box.boxId,
      boxName: e.box.boxName,
      action: `box.session.${e.type}`,
      details: {
        kind: e.kind,
        remoteAddress: e.remoteAddress,
        ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }),
        ...(e.exitCode === undefined ? {} : { exitCode: e.exitCode }),
      },
    });
  };

  const connector = new LocalRuntimeConnector(opts.runtime);
  const directory = new CachedGatewayDirectory(new DbGatewayDirectory(opts.pool), {
    onStale: (what) => logger.warn({ what }, "control plane unreachable; using the cached login decision"),
  });
  /**
   * Wake on connect: a login to a paused box resumes it (as that user, through
   * the same quota admission and audit as `boxyard resume`) and waits for it,
   * telling the client what is happening. A stopped box is not started: that
   * is a cold boot the owner should ask for.
   */
  const wake = async (route: BoxRoute, say: (msg: string) => void): Promise<BoxRoute> => {
    if (
      route.desiredState !== "paused" &&
      route.actualState !== "paused" &&
      route.actualState !== "resuming"
    ) {
      throw new Error(
        `box ${route.boxName} is ${route.actualState}; start it first (boxyard start ${route.boxName})`,
      );
    }
    say(`Resuming ${route.boxName}…`);
    const started = Date.now();
    if (route.desiredState !== "running") {
      await changeBoxDesiredState(opts.pool, opts.ids, { boxId: route.boxId, verb: "resume" }, async (tx) => {
        await admitWithinQuota(tx, route.orgId);
        await recordAudit(tx, {
          orgId: route.orgId,
          actor: { kind: "system", name: "gateway" },
          action: "box.resume",
          target: { kind: "box", id: route.boxId, name: route.boxName },
          result: "success",
          details: { reason: "wake on connect" },
          at: opts.clock.now(),
        });
      });
    }
    for (;;) {
      const box = await getBoxById(opts.pool, route.boxId);
      if (!box || box.deleted_at) throw new Error(`box ${route.boxName} is gone`);
      if (box.actual_state === "running" && box.observed_generation >= box.generation) {
        directory.invalidateBox(route.boxId);
        say(`${route.boxName} is running (${((Date.now() - started) / 1000).toFixed(1)}s).`);
        return { ...route, actualState: "running", desiredState: "running", nodeId: box.node_id };
      }
      if (box.actual_state === "failed")
        throw new Error(
          `box ${route.boxName} failed to resume: ${box.last_error?.message ?? "unknown error"}`,
        );
      if (Date.now() - started > 120_000)
        throw new Error(`box ${route.boxName} did not resume within 2 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const ssh = await startSshGateway({
    wake,
    host: opts.listen.host,
    port: opts.listen.port,
    hostKey: opts.hostKey,
    directory,
    connector,
    logger,
    onSessionEvent,
  });
  logger.info({ address: ssh.address }, "ssh gateway listening");

  const hub = new WebTerminalHub({
    signer: opts.tickets,
    connector,
    onEvent: (e) => {
      if (e.type === "open") openSessions.labels("terminal").inc();
      if (e.type === "close") openSessions.labels("terminal").dec();
      void audit({
        orgId: e.orgId,
        userId: e.userId,
        boxId: e.boxId,
        action: `box.terminal.${e.type}`,
        details: {},
      });
    },
  });
  opts.app.server.on("upgrade", (req, socket, head) => {
    const m = TERMINAL_WS.exec(req.url ?? "");
    if (!m) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    hub.handleUpgrade(req, socket, head, {
      orgName: m[1]!,
      boxName: m[2]!,
      nodeId: null,
      actualState: "running",
      desiredState: "running",
    });
  });

  return {
    sshAddress: ssh.address,
    async close() {
      hub.close();
      await ssh.close();
    },
  };
}
