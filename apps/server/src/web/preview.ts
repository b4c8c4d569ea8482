import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { authenticateBearer, authenticateSessionCookie, readCookie, SESSION_COOKIE } from "@boxyard/auth";
import { DomainError } from "@boxyard/errors";
import type { BoxConnector } from "@boxyard/gateway";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authorizeBox } from "../api/boxes.ts";
import type { ApiDeps } from "../http/context.ts";

// The previewed app runs in an opaque origin: it cannot read Boxyard's
// cookies or call its API as the viewer, although it is served from
// Boxyard's host (path-based previews need no wildcard DNS).
const PREVIEW_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** What the box's app sees: the viewer's request without Boxyard's credentials. */
function upstreamHeaders(h: IncomingHttpHeaders, port: number): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || k === "authorization" || k === "host") continue;
    if (k === "cookie") {
      const kept = String(v)
        .split(";")
        .map((c) => c.trim())
        .filter((c) => c && !c.startsWith("boxyard_"));
      if (kept.length > 0) out.cookie = kept.join("; ");
      continue;
    }
    out[k] = v;
  }
  out.host = `127.0.0.1:${port}`;
  out.connection = "close";
  return out;
}

/**
 * Port previews: `/preview/ORG/BOX/PORT/...` proxies HTTP to that port inside
 * the box (through a relay in the box, so servers bound to the box's own
 * loopback work too). Only people who may connect to the box get through;
 * another org's box is 404.
 */
export function registerPreviewRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  connector: () => BoxConnector | undefined,
): void {
  app.register(async (scope) => {
    // Bodies go to the box untouched: no parsing here.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, _payload, done) => done(null));

    const handler = async (
      req: FastifyRequest<{ Params: { org: string; box: string; port: string; "*"?: string } }>,
      reply: FastifyReply,
    ) => {
      const { org, box } = req.params;
      const port = Number(req.params.port);
      if (!/^\d{1,5}$/.test(req.params.port) || port < 1 || port > 65535) {
        throw new DomainError("validation_failed", { detail: "the port must be 1-65535" });
      }
      const auth = req.headers.authorization;
      const actor =
        typeof auth === "string" && auth !== ""
          ? await authenticateBearer(deps.pool, auth, deps.clock)
          : await authenticateSessionCookie(deps.pool, readCookie(req.headers.cookie, SESSION_COOKIE)).then(
              (s) =>
                s
                  ? { kind: "user" as const, user: s.user, sessionId: s.sessionId }
                  : authenticateBearer(deps.pool, undefined, deps.clock),
            );
      const { box: row, access } = await authorizeBox(deps, actor, { org, box }, "connect");
      if (row.actual_state !== "running")
        throw new DomainError("box_not_running", { detail: `${box} is ${row.actual_state}` });
      const conn = connector();
      if (!conn)
        throw new DomainError("box_not_running", {
          detail: "this server runs no gateway for the box's node",
        });
      const route = {
        boxId: row.id,
        orgId: access.orgId,
        boxName: row.name,
        orgName: access.orgName,
        nodeId: row.node_id,
        actualState: row.actual_state,
        desiredState: row.desired_state,
      };
      const stream = await conn.connectTcp(route, port);
      const rest = req.params["*"] ?? "";
      const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
      reply.hijack();
      const upstream = httpRequest({
        createConnection: () => stream as never,
        method: req.method,
        path: `/${rest}${query}`,
        headers: upstreamHeaders(req.headers, port),
      });
      upstream.on("response", (res) => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          // The box may not set cookies on Boxyard's origin.
          if (v !== undefined && !HOP_BY_HOP.has(k) && k !== "set-cookie") headers[k] = v;
        }
        headers["content-security-policy"] = PREVIEW_CSP;
        headers["x-content-type-options"] = "nosniff";
        reply.raw.writeHead(res.statusCode ?? 502, headers);
        res.pipe(reply.raw);
      });
      upstream.on("error", (err) => {
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(502, { "content-type": "text/plain; charset=utf-8" });
          reply.raw.end(`Nothing answered on port ${port} in ${box}: ${err.message}\n`);
        } else reply.raw.destroy();
        stream.destroy();
      });
      req.raw.pipe(upstream);
    };

    scope.all("/preview/:org/:box/:port/*", handler);
    scope.all(
      "/preview/:org/:box/:port",
      async (req: FastifyRequest<{ Params: { org: string; box: string; port: string } }>, reply) => {
        const { org, box, port } = req.params;
        if (![org, box].every((n) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(n)) || !/^\d{1,5}$/.test(port)) {
          throw new DomainError("box_not_found");
        }
        return reply.redirect(`/preview/${org}/${box}/${port}/`, 308);
      },
    );
  });
}
