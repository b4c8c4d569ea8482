// The role matrix (test-catalogue B1/B2, issue 6's IDOR matrix): every org
// route declares the permission it needs, the expected answer for each org
// role is computed from the permissions table (permissions are data), and
// the server must agree cell by cell. Denials are 403 with code "forbidden"
// and change nothing; a member acts only on boxes they own. A new org route
// fails this test until it is declared here.
import {
  type Action,
  OWNER_SCOPED_BOX_ACTIONS,
  type OrgRole,
  type Resource,
  roleAllows,
} from "@boxyard/authz";
import { allRoutes, type RouteDef } from "@boxyard/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

type Need = { [R in Resource]: { resource: R; action: Action<R> } }[Resource] | "site-admin";

const need = <R extends Resource>(resource: R, action: Action<R>): Need => ({ resource, action }) as Need;

/** What each org route needs, and a body that passes validation. */
const ROUTES: Record<string, { need: Need; body?: unknown; stream?: boolean }> = {
  getOrg: { need: need("org", "read") },
  setOrgMember: { need: need("member", "set"), body: { role: "viewer" } },
  removeOrgMember: { need: need("member", "set") },
  listOrgMembers: { need: need("member", "read") },
  getQuota: { need: need("quota", "read") },
  // An org's own quota is the operator's cost control: only site admins set it.
  setQuota: { need: "site-admin", body: { maxBoxes: 50 } },
  createTeam: { need: need("org", "manage"), body: { name: "made-by-role" } },
  listTeams: { need: need("org", "read") },
  listTeamMembers: { need: need("member", "read") },
  setTeamMember: { need: need("org", "manage"), body: {} },
  removeTeamMember: { need: need("org", "manage") },
  getTeamQuota: { need: need("quota", "read") },
  setTeamQuota: { need: need("quota", "set"), body: { maxBoxes: 40 } },
  createTemplate: {
    need: need("template", "write"),
    body: { name: "by-role", spec: { image: { base: "busybox" } } },
  },
  listTemplates: { need: need("template", "read") },
  listTemplateVersions: { need: need("template", "read") },
  setTemplatePool: { need: need("template", "write"), body: { size: 0 } },
  getTemplatePool: { need: need("template", "read") },
  getTemplateBuild: { need: need("template", "read") },
  getTemplateBuildLogs: { need: need("template", "read") },
  retryTemplateBuild: { need: need("template", "write") },
  createPrebuild: { need: need("template", "write"), body: {} },
  listPrebuilds: { need: need("template", "read") },
  getPrebuild: { need: need("template", "read") },
  getPrebuildLogs: { need: need("template", "read") },
  createSecret: { need: need("secret", "write"), body: { name: "BY_ROLE", value: "v" } },
  listSecrets: { need: need("secret", "read") },
  deleteSecret: { need: need("secret", "write") },
  uploadImage: { need: need("template", "write") },
  listImages: { need: need("template", "read") },
  getUsage: { need: need("usage", "read") },
  createBox: { need: need("box", "create"), body: { name: "by-role", template: "busybox" } },
  listBoxes: { need: need("box", "read") },
  getBox: { need: need("box", "read") },
  startBox: { need: need("box", "start") },
  stopBox: { need: need("box", "stop") },
  pauseBox: { need: need("box", "pause") },
  resumeBox: { need: need("box", "resume") },
  deleteBox: { need: need("box", "delete") },
  execInBox: { need: need("box", "exec"), body: { command: ["true"] } },
  boxEvents: { need: need("box", "read"), stream: true },
  boxHistory: { need: need("box", "read") },
  createTerminalTicket: { need: need("box", "connect") },
  listBoxPorts: { need: need("box", "read") },
  setBoxPort: { need: need("box", "share"), body: { visibility: "org" } },
  listAudit: { need: need("audit", "read") },
  verifyAudit: { need: need("audit", "read") },
};

const orgRoutes = allRoutes.filter(
  (r) => r.path === "/api/v1/orgs/:org" || r.path.startsWith("/api/v1/orgs/:org/"),
);
const ROLES: readonly OrgRole[] = ["owner", "admin", "member", "viewer", "auditor"];

/** The box a route is aimed at: the owner's (so a member is acting on someone else's) unless said. */
function pathOf(route: RouteDef, box = "obox"): string {
  const params: Record<string, string> = {
    org: "acme",
    box,
    username: "ria",
    team: "core",
    name: "tpl",
    version: "1",
    port: "8080",
    prebuild: prebuildId,
  };
  return route.path.replace(/:([A-Za-z]+)/g, (_m, p: string) => params[p] ?? "x");
}

function allowed(role: OrgRole, n: Need): boolean {
  if (n === "site-admin") return false;
  return roleAllows(role, n.resource, n.action as never);
}

function ownerScoped(n: Need): boolean {
  return n !== "site-admin" && n.resource === "box" && OWNER_SCOPED_BOX_ACTIONS.has(String(n.action));
}

let api: BoxTestApi;
const tokens = {} as Record<OrgRole, string>;

/** The org's state that a denial must leave alone. */
async function orgState(): Promise<string> {
  const q = (sql: string) => api.server.pool.query(sql).then((r) => r.rows);
  const org = "(SELECT id FROM orgs WHERE name = 'acme')";
  return JSON.stringify({
    boxes: await q(
      `SELECT name, desired_state, generation FROM boxes WHERE org_id = ${org} AND owner_id IS NOT NULL ORDER BY name`,
    ),
    members: await q(
      `SELECT u.username, m.role FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ${org} ORDER BY 1`,
    ),
    quota: await q(`SELECT * FROM org_quotas WHERE org_id = ${org}`),
    teams: await q(
      `SELECT t.name, (SELECT count(*) FROM team_members m WHERE m.team_id = t.id) AS members, (SELECT row_to_json(tq) FROM team_quotas tq WHERE tq.team_id = t.id) AS quota FROM teams t WHERE t.org_id = ${org} ORDER BY 1`,
    ),
    templates: await q(
      `SELECT t.name, v.version FROM template_versions v JOIN templates t ON t.id = v.template_id WHERE t.org_id = ${org} ORDER BY 1, 2`,
    ),
    secrets: await q(
      `SELECT name, scope, team_id, user_id, ciphertext, updated_at FROM secrets WHERE org_id = ${org} ORDER BY 1, 2`,
    ),
    ports: await q(
      `SELECT b.name, p.port, p.visibility FROM box_ports p JOIN boxes b ON b.id = p.box_id WHERE b.org_id = ${org} ORDER BY 1, 2`,
    ),
  });
}

/** The status of a request; a streaming route is judged by its headers and then closed. */
async function statusOf(
  route: RouteDef,
  token: string,
  path: string,
): Promise<{ status: number; code?: string }> {
  const c = ROUTES[route.operationId]!;
  if (c.stream) {
    const ctl = new AbortController();
    const res = await fetch(`${api.url}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
      signal: ctl.signal,
    });
    const code = res.ok ? undefined : ((await res.json()) as { code?: string }).code;
    ctl.abort();
    return { status: res.status, ...(code ? { code } : {}) };
  }
  const res = await api.call(route.method, path, { token, body: c.body });
  return { status: res.status, code: res.body?.code };
}

/** The prebuild the template push queued (beforeAll). */
let prebuildId = "";

beforeAll(async () => {
  api = await startBoxTestApi();
  const names: Record<OrgRole, string> = {
    owner: "olive",
    admin: "adam",
    member: "mia",
    viewer: "vera",
    auditor: "aude",
  };
  for (const role of ROLES) tokens[role] = await api.createUser(names[role]);
  await api.createUser("ria");
  await api.call("POST", "/api/v1/orgs", { token: tokens.owner, body: { name: "acme" } });
  for (const role of ROLES.filter((r) => r !== "owner"))
    await api.call("PUT", `/api/v1/orgs/acme/members/${names[role]}`, {
      token: tokens.owner,
      body: { role },
    });
  await api.call("PUT", "/api/v1/orgs/acme/members/ria", { token: tokens.owner, body: { role: "member" } });
  const made = [
    await api.call("POST", "/api/v1/orgs/acme/boxes", {
      token: tokens.owner,
      body: { name: "obox", template: "busybox" },
    }),
    await api.call("POST", "/api/v1/orgs/acme/boxes", {
      token: tokens.member,
      body: { name: "mbox", template: "busybox" },
    }),
    await api.call("POST", "/api/v1/orgs/acme/teams", { token: tokens.owner, body: { name: "core" } }),
    await api.call("PUT", "/api/v1/orgs/acme/teams/core/members/ria", { token: tokens.owner, body: {} }),
    await api.call("POST", "/api/v1/orgs/acme/templates", {
      token: tokens.owner,
      // With an init command, so the push queues a prebuild the prebuild routes can read.
      body: { name: "tpl", spec: { image: { base: "busybox" }, init: ["true"] } },
    }),
  ];
  for (const r of made) expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  const prebuilds = await api.call("GET", "/api/v1/orgs/acme/templates/tpl/prebuilds", {
    token: tokens.owner,
  });
  prebuildId = prebuilds.body.items[0].id;
});
afterAll(async () => api?.close());

describe("role matrix (B1/B2)", () => {
  it("declares what every org route needs", () => {
    const missing = orgRoutes.map((r) => r.operationId).filter((id) => !(id in ROUTES));
    expect(missing, "org routes without a declared permission").toEqual([]);
    const stale = Object.keys(ROUTES).filter((id) => !orgRoutes.some((r) => r.operationId === id));
    expect(stale, "declarations for routes that no longer exist").toEqual([]);
  });

  it("answers 403 forbidden to every role the permissions table leaves out, and changes nothing", async () => {
    const before = await orgState();
    const cells: string[] = [];
    for (const route of orgRoutes) {
      const c = ROUTES[route.operationId]!;
      for (const role of ROLES.filter((r) => !allowed(r, c.need))) {
        const res = await statusOf(route, tokens[role], pathOf(route));
        if (res.status !== 403 || res.code !== "forbidden")
          cells.push(`${role} ${route.method} ${route.path}: ${res.status} ${res.code ?? ""}`);
      }
    }
    expect(cells, "cells that should have been 403 forbidden").toEqual([]);
    expect(await orgState()).toBe(before);
  });

  it("lets a member act only on their own boxes (owner-scoped actions on someone else's box are 403)", async () => {
    const before = await orgState();
    const cells: string[] = [];
    for (const route of orgRoutes.filter((r) => ownerScoped(ROUTES[r.operationId]!.need))) {
      const res = await statusOf(route, tokens.member, pathOf(route, "obox"));
      if (res.status !== 403 || res.code !== "forbidden")
        cells.push(`${route.method} ${route.path}: ${res.status}`);
    }
    expect(cells, "member on the owner's box").toEqual([]);
    expect(await orgState()).toBe(before);
    // ... and the same member may on their own box (a terminal ticket changes nothing).
    const own = await api.call("POST", "/api/v1/orgs/acme/boxes/mbox/terminal-ticket", {
      token: tokens.member,
    });
    expect(own.status, JSON.stringify(own.body)).toBeLessThan(300);
  });

  it("answers every read a role is allowed with success", async () => {
    const cells: string[] = [];
    for (const route of orgRoutes.filter((r) => r.method === "GET")) {
      const c = ROUTES[route.operationId]!;
      for (const role of ROLES.filter((r) => allowed(r, c.need))) {
        const res = await statusOf(route, tokens[role], pathOf(route));
        if (res.status >= 300) cells.push(`${role} GET ${route.path}: ${res.status} ${res.code ?? ""}`);
      }
    }
    expect(cells, "allowed reads that failed").toEqual([]);
  });

  it("lets every change through authorisation for the roles allowed (whatever the state then says)", async () => {
    const cells: string[] = [];
    for (const route of orgRoutes.filter((r) => r.method !== "GET")) {
      const c = ROUTES[route.operationId]!;
      for (const role of ROLES.filter((r) => allowed(r, c.need))) {
        // A member changes only their own box; owners and admins the owner's.
        const box = role === "member" && ownerScoped(c.need) ? "mbox" : "obox";
        const res = await statusOf(route, tokens[role], pathOf(route, box));
        if (res.status === 401 || res.status === 403)
          cells.push(`${role} ${route.method} ${route.path}: ${res.status}`);
      }
    }
    expect(cells, "allowed changes refused").toEqual([]);
  });
});
