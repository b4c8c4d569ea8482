// `boxyard server --role agent` and `--role gateway`: the data plane as its
// own processes, talking to the control plane over HTTP only (no database).
// Neither owns a box's life: sandboxes are not their children, so killing
// either (or the control plane) leaves every box running, and the gateway
// keeps its open sessions and, from its cache, new logins when the control
// plane is away.

import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { memoryPressureFromSetting, NodeAgent } from "@boxyard/agent";
import { HttpControlPlaneLink } from "@boxyard/agent-protocol";
import { TicketSigner } from "@boxyard/auth";
import {
  AuditEventOutbox,
  CachedGatewayDirectory,
  ControlPlaneError,
  handleRelayUpgrade,
  type GatewayRegistration,
  HttpGatewayControl,
  LocalRuntimeConnector,
  loadOrCreateHostKey,
  wakeOnConnect,
} from "@boxyard/gateway";
import { LayerStore } from "@boxyard/images";
import { systemClock } from "@boxyard/platform";
import { GvisorRuntime } from "@boxyard/runtime";
import Fastify from "fastify";
import pino, { type Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { type ServerConfig, StartupError } from "./config.ts";
import { prepareDataDir } from "./data-dir.ts";
import { dispatchUpgrades, type GatewayWiring, startGateway } from "./gateway-wiring.ts";
import { localCapacity, localNodeName } from "./node-identity.ts";
import { startLayerGc } from "./layer-gc-wiring.ts";
import { createLocalNode, downloadingArchiveSource } from "./node-runtime.ts";
import { instrumentRuntime } from "./runtime-metrics.ts";
import { assertPortFree } from "./server.ts";

export interface DataPlaneProcess {
  role: "agent" | "gateway";
  /** http://host:port of this process's health and metrics endpoints (and, for a gateway, terminals). */
  url: string;
  logger: Logger;
  /** What to tell the person who started it. */
  summary: string[];
  agent?: NodeAgent;
  gateway?: { sshAddress: { host: string; port: number }; control: HttpGatewayControl };
  /** Stops this process's work. Boxes keep running. */
  close(): Promise<void>;
}

type Check = () => { ok: boolean; detail?: string };

async function controlToken(config: ServerConfig): Promise<string> {
  if (config.controlToken) return config.controlToken;
  if (config.controlTokenFile) {
    try {
      const t = (await readFile(config.controlTokenFile, "utf8")).trim();
      if (t) return t;
    } catch (err) {
      throw new StartupError(
        `cannot read --control-token-file ${config.controlTokenFile} (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
  }
  throw new StartupError(
    `the ${config.role} role registers with the control plane using a site admin's API token: set BOXYARD_CONTROL_TOKEN or pass --control-token-file FILE`,
  );
}

export async function runDataPlane(opts: {
  config: ServerConfig;
  logger?: Logger;
}): Promise<DataPlaneProcess> {
  const { config } = opts;
  const role = config.role;
  if (role !== "agent" && role !== "gateway") throw new Error(`runDataPlane cannot run role ${role}`);
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { svc: `boxyard-${role}` } });
  if (!config.controlUrl)
    throw new StartupError(
      `the ${role} role needs the control plane's address: pass --control-url URL (or set BOXYARD_CONTROL_URL)`,
    );
  const controlUrl = config.controlUrl;
  const token = await controlToken(config);

  const cleanups: Array<() => Promise<void>> = [];
  const unwind = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((err) => logger.warn({ err }, "clean-up step failed"));
    cleanups.length = 0;
  };

  try {
    await assertPortFree(config.listen.host, config.listen.port);
    if (role === "gateway")
      await assertPortFree(config.sshListen.host, config.sshListen.port, "--ssh-listen");
    await prepareDataDir(config.dataDir);

    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const checks = new Map<string, Check>();
    const app = Fastify({ loggerInstance: logger.child({ component: "http" }) as never });
    app.get("/healthz", async () => ({ ok: true }));
    app.get("/readyz", async (_req, reply) => {
      const results = Object.fromEntries([...checks].map(([k, c]) => [k, c()]));
      const ready = Object.values(results).every((r) => r.ok);
      return reply.code(ready ? 200 : 503).send({ ready, role, checks: results });
    });
    app.get("/metrics", async (_req, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (err) {
      throw new StartupError(
        `cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    cleanups.push(() => app.close());
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : config.listen.port;
    const url = `http://${config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host}:${port}`;
    const name = config.nodeName ?? localNodeName();
    const publicUrl = new URL(config.publicUrl).port === "0" ? url : config.publicUrl;

    if (role === "agent") {
      const link = new HttpControlPlaneLink({ baseUrl: controlUrl, registrationToken: token });
      // Image archives uploaded to the control plane come down to this node when a build needs them.
      const node = await createLocalNode(config, logger, {
        archives: downloadingArchiveSource(link, join(config.dataDir, "node", "archives")),
      });
      cleanups.push(() => node.close());
      const agent = new NodeAgent({
        runtime: instrumentRuntime(node.runtime, registry),
        images: node.images,
        link,
        nodeName: name,
        clock: systemClock,
        logger: logger.child({ component: "agent" }),
        capacity: await localCapacity(config.dataDir),
        coldPauseAfterMs: config.coldPauseAfterSeconds * 1000,
        memoryPressure: await memoryPressureFromSetting(config.coldPauseMemoryLow),
      });
      await agent.start();
      // Stopping the agent leaves every box running.
      cleanups.push(() => agent.stop());
      const layerGc = startLayerGc({
        node,
        config,
        registry,
        logger,
        wanted: () => agent.wantedLayers(),
      });
      if (layerGc) cleanups.push(() => layerGc.stop());
      checks.set("agent", () => agent.readiness());
      logger.info({ url, node: name, control: controlUrl }, "boxyard node agent ready");
      return {
        role,
        url,
        logger,
        agent,
        summary: [
          `Boxyard node agent "${name}" is running.`,
          `Control plane:      ${controlUrl}`,
          `Health/metrics:     ${url}/readyz, ${url}/metrics`,
          `Data directory:     ${config.dataDir}`,
        ],
        close: unwind,
      };
    }

    // The gateway opens sessions in the boxes of the node it runs on, through
    // the same runsc state the node's agent keeps under DATA_DIR/node.
    if (config.runtime !== "gvisor")
      throw new StartupError(
        "the gateway role opens sessions through the node's gVisor runtime: run it on the node's machine with --runtime gvisor and the agent's --data-dir",
      );
    const nodeDir = join(config.dataDir, "node");
    const runtime = new GvisorRuntime({
      stateDir: join(nodeDir, "boxes"),
      layers: new LayerStore({ root: config.layerDir ?? join(nodeDir, "images") }),
      networkMode: "sandbox",
    });
    const hostKey = await loadOrCreateHostKey(join(config.dataDir, "gateway"));
    let registration: GatewayRegistration | undefined;
    let tickets: TicketSigner | undefined;
    let sshAddress = { host: config.sshListen.host, port: config.sshListen.port };
    const publicHost = new URL(publicUrl).hostname;
    const control = new HttpGatewayControl({
      baseUrl: controlUrl,
      registrationToken: token,
      info: () => ({
        name,
        httpUrl: publicUrl,
        sshHost: ["0.0.0.0", "::"].includes(sshAddress.host) ? publicHost : sshAddress.host,
        sshPort: sshAddress.port,
        hostKey: hostKey.publicKey,
      }),
      onRegistered: (reg) => {
        registration = reg;
        tickets = TicketSigner.fromBase64(reg.ticketKey);
      },
    });
    const directory = new CachedGatewayDirectory(control, {
      onStale: (what) => logger.warn({ what }, "control plane unreachable; using the cached login decision"),
    });
    const outbox = new AuditEventOutbox({
      send: (events) => control.sendEvents(events),
      onError: (err, pending) =>
        logger.warn({ err: String(err), pending }, "control plane unreachable; session audit events wait"),
    });
    const gatewayLogger = logger.child({ component: "gateway" });
    const connector = new LocalRuntimeConnector(runtime);
    const gateway: GatewayWiring = await startGateway({
      control: {
        directory,
        wake: wakeOnConnect({
          requestWake: async (user, route) => {
            await control.requestWake(user.userId, route.boxId);
          },
          current: (user, route) =>
            control.boxForUser(user.userId, { box: route.boxName, org: route.orgName }),
          onAwake: (route) => directory.invalidateBox(route.boxId),
        }),
        record: (e) => outbox.push(e),
      },
      connector,
      logger: gatewayLogger,
      hostKey: hostKey.privateKey,
      listen: config.sshListen,
      // Until registered there is no key, and every ticket is refused.
      tickets: { verify: (t, aud, now) => tickets?.verify(t, aud, now) ?? null },
      extraOrigins: () => registration?.allowedOrigins ?? [],
      metrics: registry,
    });
    cleanups.push(() => gateway.close());
    sshAddress = gateway.sshAddress;
    // The control plane's previews reach boxes here through the relay.
    const relay = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      handleRelayUpgrade(req, socket, head, { verifier: () => tickets, connector });
    dispatchUpgrades(app.server, [gateway.handleUpgrade, relay]);

    // Register (retrying while the control plane is not there yet), then
    // heartbeat through the audit outbox. A refusal (bad token, bad address)
    // will not fix itself: that stops start-up with the control plane's reason.
    let stopped = false;
    const tryRegister = async (): Promise<boolean> => {
      try {
        await control.register();
        outbox.start();
        gatewayLogger.info({ control: controlUrl }, "gateway registered");
        return true;
      } catch (err) {
        if (err instanceof ControlPlaneError && err.status >= 400 && err.status < 500)
          throw new StartupError(`the control plane refused to register this gateway: ${err.message}`);
        return false;
      }
    };
    const registered = (async () => {
      for (let attempt = 0; !stopped; attempt++) {
        if (await tryRegister()) return;
        if (attempt % 10 === 0)
          gatewayLogger.warn(
            { control: controlUrl },
            "cannot reach the control plane to register yet; retrying",
          );
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
      }
    })();
    // The first answer decides whether start-up goes on.
    await Promise.race([registered, new Promise((r) => setTimeout(r, 2_000))]);
    cleanups.push(async () => {
      stopped = true;
      await registered.catch(() => {});
      // Best effort: what cannot be sent now is logged as lost.
      await Promise.race([outbox.close(), new Promise((r) => setTimeout(r, 3_000))]);
      if (outbox.pending > 0)
        gatewayLogger.warn({ lost: outbox.pending }, "session audit events not delivered at shutdown");
    });
    checks.set("registered", () =>
      registration ? { ok: true } : { ok: false, detail: "not registered with the control plane" },
    );
    logger.info({ url, ssh: sshAddress, control: controlUrl }, "boxyard gateway ready");
    return {
      role,
      url,
      logger,
      gateway: { sshAddress, control },
      summary: [
        `Boxyard gateway "${name}" is running.`,
        `SSH:                ${sshAddress.host}:${sshAddress.port}`,
        `Browser terminals:  ${publicUrl}`,
        `Control plane:      ${controlUrl}`,
        `Data directory:     ${config.dataDir}`,
      ],
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
