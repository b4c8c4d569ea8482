import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TicketSigner } from "@boxyard/auth";
import {
  type BoxConnector,
  CachedGatewayDirectory,
  DbGatewayDirectory,
  type GatewayAuditEvent,
  type SessionEvent,
  type SshGatewayOptions,
  startSshGateway,
  WebTerminalHub,
  wakeOnConnect,
} from "@boxyard/gateway";
import type { Clock, IdGen } from "@boxyard/platform";
import type pg from "pg";
import type { Logger } from "pino";
import { Gauge, Histogram, type Registry } from "prom-client";
import { recordSessionEvent, wakeForConnect } from "./api/gateway-transport.ts";

const TERMINAL_WS =
  /^\/api\/v1\/orgs\/([a-z0-9][a-z0-9-]{0,62})\/boxes\/([a-z0-9][a-z0-9-]{0,62})\/terminal\/ws(\?|$)/;

export interface GatewayWiring {
  sshAddress: { host: string; port: number };
  /** Takes a WebSocket upgrade for a browser terminal; false when the path is not one. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): Promise<void>;
}

/** Where the gateway's logins, wake-ups and audit events go: the database (all-in-one) or the control plane over HTTP. */
export interface GatewayControl {
  /** Cached, so logins keep working for a while when the control plane is away. */
  directory: CachedGatewayDirectory;
  wake: NonNullable<SshGatewayOptions["wake"]>;
  record(e: GatewayAuditEvent): void;
}

/** The all-in-one gateway's control: straight to PostgreSQL. */
export function databaseGatewayControl(o: {
  pool: pg.Pool;
  ids: IdGen;
  clock: Clock;
  logger: Logger;
}): GatewayControl {
  const db = new DbGatewayDirectory(o.pool);
  const directory = new CachedGatewayDirectory(db, {
    onStale: (what) => o.logger.warn({ what }, "control plane unreachable; using the cached login decision"),
  });
  return {
    directory,
    wake: wakeOnConnect({
      requestWake: (user, route) => wakeForConnect(o, route, user.userId),
      current: (user, route) => db.boxForUser(user.userId, { box: route.boxName, org: route.orgName }),
      onAwake: (route) => directory.invalidateBox(route.boxId),
    }),
    record: (e) =>
      void recordSessionEvent(o.pool, e).catch((err) =>
        o.logger.warn({ err }, "could not audit a gateway session (database down?)"),
      ),
  };
}

/** Routes WebSocket upgrades to the first handler that takes them; anything else is 404. */
export function dispatchUpgrades(
  server: { on(event: "upgrade", fn: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown },
  handlers: Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => boolean>,
): void {
  server.on("upgrade", (req, socket, head) => {
    for (const h of handlers) if (h(req, socket, head)) return;
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
  });
}

/**
 * The gateway: the SSH server and the browser terminal's WebSocket, running
 * sessions inside boxes through `connector`. Logins are checked against a
 * cached directory, so they keep working for a while when the control plane
 * is down; every session is an audit event.
 */
export async function startGateway(opts: {
  control: GatewayControl;
  connector: BoxConnector;
  logger: Logger;
  hostKey: string;
  listen: { host: string; port: number };
  tickets: Pick<TicketSigner, "verify">;
  /** Origins besides the server's own whose pages may open terminals (a separate control plane). */
  extraOrigins?: () => string[];
  metrics: Registry;
  /** How often open sessions re-check their user's access (default 30 s). */
  revalidateMs?: number;
}): Promise<GatewayWiring> {
  const { logger, control } = opts;
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

  const setupSeconds = new Histogram({
    name: "boxyard_gateway_session_setup_seconds",
    help: "From a client's request to its session running in the box (wake on connect included)",
    labelNames: ["kind"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [opts.metrics],
  });

  const onSessionEvent = (e: SessionEvent) => {
    if (e.type === "open") {
      openSessions.labels(e.kind).inc();
      if (e.setupMs !== undefined) setupSeconds.labels(e.kind).observe(e.setupMs / 1000);
    } else {
      openSessions.labels(e.kind).dec();
      sessionSeconds.labels(e.kind).observe((e.durationMs ?? 0) / 1000);
    }
    control.record({
      action: `box.session.${e.type}`,
      at: new Date().toISOString(),
      orgId: e.box.orgId,
      userId: e.user.userId,
      username: e.user.username,
      boxId: e.box.boxId,
      boxName: e.box.boxName,
      details: {
        kind: e.kind,
        remoteAddress: e.remoteAddress,
        ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }),
        ...(e.exitCode === undefined ? {} : { exitCode: e.exitCode }),
      },
    });
  };

  const ssh = await startSshGateway({
    wake: control.wake,
    ...(opts.revalidateMs ? { revalidateMs: opts.revalidateMs } : {}),
    host: opts.listen.host,
    port: opts.listen.port,
    hostKey: opts.hostKey,
    directory: control.directory,
    connector: opts.connector,
    logger,
    onSessionEvent,
  });
  logger.info({ address: ssh.address }, "ssh gateway listening");

  const hub = new WebTerminalHub({
    signer: opts.tickets,
    connector: opts.connector,
    ...(opts.extraOrigins ? { extraOrigins: opts.extraOrigins } : {}),
    revalidate: async (t) => {
      const still = await control.directory.boxForUser(t.userId, { box: t.boxName, org: t.orgName });
      return still?.boxId === t.boxId;
    },
    ...(opts.revalidateMs ? { revalidateMs: opts.revalidateMs } : {}),
    onEvent: (e) => {
      if (e.type === "open") openSessions.labels("terminal").inc();
      if (e.type === "close") openSessions.labels("terminal").dec();
      if (e.type === "reattach") return;
      control.record({
        action: `box.terminal.${e.type}`,
        at: new Date().toISOString(),
        orgId: e.orgId,
        userId: e.userId,
        boxId: e.boxId,
        details: {},
      });
    },
  });
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const m = TERMINAL_WS.exec(req.url ?? "");
    if (!m) return false;
    hub.handleUpgrade(req, socket, head, {
      orgName: m[1]!,
      boxName: m[2]!,
      nodeId: null,
      actualState: "running",
      desiredState: "running",
    });
    return true;
  };

  return {
    sshAddress: ssh.address,
    handleUpgrade,
    async close() {
      hub.close();
      await ssh.close();
    },
  };
}
