import { DomainError } from "@boxyard/errors";
import type { FastifyInstance } from "fastify";
import { findAssetsDir, readAsset } from "./assets.ts";
import { terminalPage } from "./terminal-page.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,62})$/;

// The browser talks only to this origin and, when terminals are served by a
// separate gateway, to that gateway's WebSocket; inline styles are xterm.js's own.
function csp(extraConnect: string | null): string {
  const connect = extraConnect ? `'self' ${extraConnect}` : "'self'";
  return `default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src ${connect}; img-src 'self' data:; frame-ancestors 'none'`;
}

/** Pages and static assets for browsers (outside the JSON API, so outside the OpenAPI document). */
export function registerWebRoutes(
  app: FastifyInstance,
  opts: { gatewayWsBase?: () => Promise<string | null> } = {},
): void {
  const assetsDir = findAssetsDir();

  app.get<{ Params: { file: string } }>("/assets/:file", async (req, reply) => {
    const asset = assetsDir ? await readAsset(assetsDir, req.params.file) : null;
    if (!asset) throw new DomainError("route_not_found", { detail: `no asset ${req.params.file}` });
    return reply.type(asset.type).header("cache-control", "public, max-age=300").send(asset.body);
  });

  app.get<{ Params: { org: string; box: string } }>("/boxes/:org/:box/terminal", async (req, reply) => {
    const { org, box } = req.params;
    if (!LABEL.test(org) || !LABEL.test(box)) throw new DomainError("box_not_found");
    return reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", csp((await opts.gatewayWsBase?.()) ?? null))
      .header("x-frame-options", "DENY")
      .header("referrer-policy", "no-referrer")
      .send(terminalPage(org, box));
  });
}
