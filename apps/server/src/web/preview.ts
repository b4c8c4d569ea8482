import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  STATUS_CODES,
} from "node:http";
import type { Duplex } from "node:stream";
import {
  type Actor,
  authenticateBearer,
  authenticateSessionCookie,
  readCookie,
  SESSION_COOKIE,
} from "@boxyard/auth";
import { authorizedStore, authorizeOrg } from "@boxyard/authz";
import type { BoxViewRow } from "@boxyard/db";
import { DomainError, isDomainError } from "@boxyard/errors";
import { type BoxConnector, type BoxRoute, splice } from "@boxyard/gateway";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authorizeBox, findBox } from "../api/boxes.ts";
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
function upstreamHeaders(
  h: IncomingHttpHeaders,
  port: number,
  opts: { upgrade?: boolean } = {},
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k === "authorization" || k === "host") continue;
    // An upgrade keeps its Connection/Upgrade headers: they are the handshake.
    if (HOP_BY_HOP.has(k) && !(opts.upgrade && (k === "upgrade" || k === "connection"))) continue;
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
  if (!opts.upgrade) out.connection = "close";
  return out;
}

const PREVIEW_PATH =
  /^\/preview\/([a-z0-9][a-z0-9-]{0,62})\/([a-z0-9][a-z0-9-]{0,62})\/(\d{1,5})(\/[^?#]*)?(\?.*)?$/;

async function actorFrom(deps: ApiDeps, headers: IncomingHttpHeaders): Promise<Actor> {
  const auth = headers.authorization;
  if (typeof auth === "string" && auth !== "") return authenticateBearer(deps.pool, auth, deps.clock);
  const s = await authenticateSessionCookie(deps.pool, readCookie(headers.cookie, SESSION_COOKIE));
  if (s) return { kind: "user", user: s.user, sessionId: s.sessionId };
  return authenticateBearer(deps.pool, undefined, deps.clock);
}

/**
 * Who may open a port's preview: anyone for a port shared publicly, any
 * member of the org for one shared with the org, otherwise only people who
 * may connect to the box. Another org's box is 404; the box must be running.
 */
export async function previewRoute(
  deps: ApiDeps,
  headers: IncomingHttpHeaders,
  p: { org: string; box: string; port: number },
): Promise<BoxRoute> {
  // The preview proxy looks shared ports up as the gateway: a public port has no viewer to act as.
  const gateway = authorizedStore(deps.pool, { kind: "system", name: "gateway" });
  const shared = await gateway.findSharedPort(p.org, p.box, p.port);
  let row: BoxViewRow | null;
  let orgId: string;
  if (shared?.visibility === "public") {
    row = await gateway.getBoxViewById(shared.box_id);
    orgId = shared.org_id;
  } else {
    const actor = await actorFrom(deps, headers);
    if (shared?.visibility === "org") {
      // Any member of the org (org.read, auditors too) may open a port shared with the org.
      const access = await authorizeOrg(deps.pool, actor, p.org, "org", "read");
      row = await findBox(gateway, access, p.box);
      orgId = access.orgId;
    } else {
      const a = await authorizeBox(deps, actor, p, "connect");
      row = a.box;
      orgId = a.access.orgId;
    }
  }
  if (!row) throw new DomainError("box_not_found");
  if (row.actual_state !== "running")
    throw new DomainError("box_not_running", { detail: `${p.box} is ${row.actual_state}` });
  return {
    boxId: row.id,
    orgId,
    boxName: row.name,
    orgName: p.org,
    nodeId: row.node_id,
    actualState: row.actual_state,
    desiredState: row.desired_state,
  };
}

/** A browser page may open preview WebSockets only from the preview itself (sandboxed: Origin "null") or this host. */
function previewOriginAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === "null") return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
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
): { handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean } {
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
      const route = await previewRoute(deps, req.headers, { org, box, port });
      const conn = connector();
      if (!conn)
        throw new DomainError("box_not_running", {
          detail: "this server runs no gateway for the box's node",
        });
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

  const refuse = (socket: Duplex, status: number, msg: string) =>
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${msg}\n`,
    );

  /** WebSocket (and other) upgrades on a preview path, relayed to the box's port byte for byte. */
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const m = PREVIEW_PATH.exec(req.url ?? "");
    if (!m) return false;
    if (!previewOriginAllowed(req)) {
      refuse(socket, 403, "Forbidden origin");
      return true;
    }
    const [, org, box, portText, rest, query] = m;
    const port = Number(portText);
    if (port < 1 || port > 65535) {
      refuse(socket, 400, "Bad port");
      return true;
    }
    socket.on("error", () => socket.destroy());
    (async () => {
      const route = await previewRoute(deps, req.headers, { org: org!, box: box!, port });
      const conn = connector();
      if (!conn)
        throw new DomainError("box_not_running", {
          detail: "this server runs no gateway for the box's node",
        });
      const upstream = await conn.connectTcp(route, port);
      const headers = upstreamHeaders(req.headers, port, { upgrade: true });
      const lines = [`${req.method ?? "GET"} ${rest || "/"}${query ?? ""} HTTP/1.1`];
      for (const [k, v] of Object.entries(headers))
        for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      splice(socket, upstream, head);
    })().catch((err: unknown) => {
      if (isDomainError(err)) refuse(socket, err.status, err.detail ?? err.message);
      else refuse(socket, 502, `Nothing answered on port ${port} in ${box}`);
    });
    return true;
  };
  return { handleUpgrade };
}
