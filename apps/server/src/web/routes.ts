import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DomainError } from "@boxyard/errors";
import type { FastifyInstance, FastifyReply } from "fastify";
import { findAssetsDir, findDashboardDir, readAsset, readDashboardFile } from "./assets.ts";
import { terminalPage } from "./terminal-page.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,62})$/;

// The browser talks only to this origin and, when terminals are served by a
// separate gateway, to that gateway's WebSocket; inline styles are xterm.js's own.
function csp(extraConnect: string | null): string {
  const connect = extraConnect ? `'self' ${extraConnect}` : "'self'";
  return `default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src ${connect}; img-src 'self' data:; frame-ancestors 'none'`;
}

/** The dashboard's policy: its own scripts and styles only, nothing inline, nothing from elsewhere. */
export function dashboardCsp(extraConnect: string | null): string {
  const connect = extraConnect ? `'self' ${extraConnect}` : "'self'";
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src ${connect}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Paths that are never the dashboard, even when a browser asks for a page there. */
const NOT_DASHBOARD = /^\/(api|auth|static|assets|preview|healthz|readyz|metrics)(\/|$)/;

/** Pages and static assets for browsers (outside the JSON API, so outside the OpenAPI document). */
export function registerWebRoutes(
  app: FastifyInstance,
  opts: { gatewayWsBase?: () => Promise<string | null>; oidc?: boolean } = {},
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

  // The dashboard: hashed build files under /static (cached for good), and
  // its one page for every other path a browser asks a page for.
  app.get<{ Params: { file: string } }>("/static/:file", async (req, reply) => {
    const dir = findDashboardDir();
    const file = dir ? await readDashboardFile(dir, req.params.file) : null;
    if (!file) throw new DomainError("route_not_found", { detail: `no file ${req.params.file}` });
    return reply
      .type(file.type)
      .header("cache-control", "public, max-age=31536000, immutable")
      .header("x-content-type-options", "nosniff")
      .send(file.body);
  });

  let page: string | null = null;
  const dashboardPage = async (): Promise<string | null> => {
    if (page) return page;
    const dir = findDashboardDir();
    if (!dir) return null;
    const html = await readFile(join(dir, "index.html"), "utf8");
    page = html.replace(
      /<meta name="boxyard-oidc" content="[a-z]*"/,
      `<meta name="boxyard-oidc" content="${opts.oidc ? "on" : "off"}"`,
    );
    return page;
  };
  const serveDashboard = async (path: string, accept: string | undefined, reply: FastifyReply) => {
    if (NOT_DASHBOARD.test(path) || !(accept ?? "").includes("text/html"))
      throw new DomainError("route_not_found", { detail: `GET ${path}` });
    const html = await dashboardPage();
    if (!html)
      throw new DomainError("route_not_found", {
        detail: "the dashboard is not built: run node scripts/build.mjs",
      });
    return reply
      .type("text/html; charset=utf-8")
      .header("cache-control", "no-cache")
      .header("content-security-policy", dashboardCsp((await opts.gatewayWsBase?.()) ?? null))
      .header("x-frame-options", "DENY")
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "same-origin")
      .send(html);
  };
  app.get("/", (req, reply) => serveDashboard("/", req.headers.accept, reply));
  app.get("/*", (req, reply) => serveDashboard(req.url.split("?")[0]!, req.headers.accept, reply));
}
