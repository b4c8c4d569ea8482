import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { ApiDeps } from "./context.ts";
import { installErrorHandling } from "./errors.ts";
import type { HttpMetrics } from "./metrics.ts";

/** Per-request body limit; larger bodies get 413 before being buffered (test-catalogue C3). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

export interface AppOptions {
  deps: ApiDeps;
  httpMetrics: HttpMetrics;
  /**
   * A connection with nothing sent either way for this long is closed (default
   * 60 s). A handler that may rightly stay quiet for longer (an exec's own
   * timeout) lifts it for its request with holdConnection().
   */
  idleTimeoutMs?: number;
}

export function createApp(opts: AppOptions): FastifyInstance {
  // pino's Logger and fastify's base logger type differ only in optional members.
  const { deps, httpMetrics } = opts;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // A client-supplied request id is kept when it is sane, so logs join up
    // across a proxy; otherwise we make one.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    requestTimeout: 120_000,
    connectionTimeout: opts.idleTimeoutMs ?? 60_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
  });

  // Fastify's JSON parser already rejects __proto__ and constructor keys;
  // duplicate keys resolve last-wins, the same everywhere we parse.
  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  app.addHook("onResponse", async (req, reply) => {
    httpMetrics.requestDuration
      .labels(req.method, req.routeOptions.url ?? "unmatched", String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
  });
  installErrorHandling(app);
  return app;
}
