// Route accounting for authorisation (test-catalogue B1): every route of the
// contract is listed here with how it is protected and a valid request. A
// new route fails this test until someone classifies it. For every protected
// route: no token is 401; for every org-scoped route: a user of another org
// gets 404 (no existence oracle) and nothing in the victim's org changes.
import { allRoutes, type RouteDef } from "@boxyard/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

type Access = "public" | "user" | "site-admin" | "org" | "node-token" | "gateway-token";

/** How each route is protected and a request that passes validation. */
const MATRIX: Record<string, { access: Access; body?: unknown }> = {
  healthz: { access: "public" },
  readyz: { access: "public" },
  metrics: { access: "public" },
  openapi: { access: "public" },
  serverInfo: { access: "user" },
  getMe: { access: "user" },
  listMyTokens: { access: "user" },
  createMyToken: { access: "user", body: { name: "t" } },
  revokeMyToken: { access: "user" },
  addMySshKey: { access: "user", body: { name: "k", publicKey: "ssh-ed25519 AAAA" } },
  listMySshKeys: { access: "user" },
  deleteMySshKey: { access: "user" },
  createUser: { access: "site-admin", body: { username: "nobody" } },
  createUserToken: { access: "site-admin", body: { name: "t" } },
  suspendUser: { access: "site-admin" },
  unsuspendUser: { access: "site-admin" },
  deleteUser: { access: "site-admin" },
  createOrg: { access: "user", body: { name: "neworg" } },
  listOrgs: { access: "user" },
  getOrg: { access: "org" },
  setOrgMember: { access: "org", body: { role: "owner" } },
  removeOrgMember: { access: "org" },
  listOrgMembers: { access: "org" },
  getQuota: { access: "org" },
  setQuota: { access: "org", body: { maxBoxes: 0 } },
  createTeam: { access: "org", body: { name: "stolen" } },
  listTeams: { access: "org" },
  createTemplate: { access: "org", body: { name: "stolen", spec: { image: { base: "busybox" } } } },
  listTemplates: { access: "org" },
  getUsage: { access: "org" },
  listTemplateVersions: { access: "org" },
  setTemplatePool: { access: "org", body: { size: 1 } },
  getTemplatePool: { access: "org" },
  getTemplateBuild: { access: "org" },
  getTemplateBuildLogs: { access: "org" },
  retryTemplateBuild: { access: "org" },
  createPrebuild: { access: "org", body: {} },
  listPrebuilds: { access: "org" },
  getPrebuild: { access: "org" },
  getPrebuildLogs: { access: "org" },
  createSecret: { access: "org", body: { name: "STOLEN", value: "v" } },
  listSecrets: { access: "org" },
  deleteSecret: { access: "org" },
  uploadImage: { access: "org" },
  listImages: { access: "org" },
  listTeamMembers: { access: "org" },
  setTeamMember: { access: "org", body: {} },
  removeTeamMember: { access: "org" },
  getTeamQuota: { access: "org" },
  setTeamQuota: { access: "org", body: { maxBoxes: 0 } },
  createBox: { access: "org", body: { name: "stolen", template: "busybox" } },
  listBoxes: { access: "org" },
  getBox: { access: "org" },
  startBox: { access: "org" },
  stopBox: { access: "org" },
  pauseBox: { access: "org" },
  resumeBox: { access: "org" },
  deleteBox: { access: "org" },
  execInBox: { access: "org", body: { command: ["true"] } },
  boxEvents: { access: "org" },
  boxHistory: { access: "org" },
  createTerminalTicket: { access: "org" },
  listBoxPorts: { access: "org" },
  setBoxPort: { access: "org", body: { visibility: "public" } },
  listAudit: { access: "org" },
  verifyAudit: { access: "org" },
  getOperation: { access: "user" },
  listNodes: { access: "site-admin" },
  agentRegister: { access: "node-token", body: {} },
  agentHeartbeat: { access: "node-token", body: {} },
  agentDesired: { access: "node-token" },
  agentReport: { access: "node-token", body: {} },
  agentCommands: { access: "node-token" },
  agentCommandReply: { access: "node-token", body: { error: { code: "x", message: "y" } } },
  agentBuildClaim: { access: "node-token" },
  agentPrebuildClaim: { access: "node-token" },
  agentPrebuildUpdate: { access: "node-token", body: { status: "building" } },
  agentBuildUpdate: { access: "node-token", body: { status: "building" } },
  agentImageArchive: { access: "node-token" },
  agentBoxSecrets: { access: "node-token" },
  gatewayRegister: {
    access: "site-admin",
    body: {
      name: "gw",
      httpUrl: "http://127.0.0.1:1",
      sshHost: "127.0.0.1",
      sshPort: 22,
      hostKey: "ssh-ed25519 AAAA",
    },
  },
  gatewayLookupKey: { access: "gateway-token", body: { fingerprint: `SHA256:${"A".repeat(43)}` } },
  gatewayLookupBox: { access: "gateway-token", body: { userId: "usr_00000000000000000000", box: "vbox" } },
  gatewayWake: {
    access: "gateway-token",
    body: { userId: "usr_00000000000000000000", boxId: "box_00000000000000000000" },
  },
  gatewayEvents: { access: "gateway-token", body: { events: [] } },
};

const PARAMS: Record<string, string> = {
  org: "victim",
  box: "vbox",
  username: "mallory",
  tokenId: "tok_00000000000000000000",
  keyId: "key_00000000000000000000",
  id: "op_00000000000000000000",
  nodeId: "node_00000000000000000000",
  node: "node_00000000000000000000",
  gateway: "gw_00000000000000000000",
  command: "cmd_00000000000000000000",
  port: "8080",
  team: "vteam",
  name: "vtpl",
  version: "1",
  build: "bld_00000000000000000000",
  prebuild: "pb_00000000000000000000",
  digest: `sha256:${"0".repeat(64)}`,
};

function pathOf(route: RouteDef): string {
  return route.path.replace(/:([A-Za-z]+)/g, (_m, p: string) => PARAMS[p] ?? "x");
}

let api: BoxTestApi;
let mallory: string;
let victimBefore: string;
/** Tokens that must get nowhere: a deleted user's, a suspended user's, an expired one. */
const deadTokens: Record<string, string> = {};
/** Members of the victim org whose role allows no change. */
const readOnly: Record<string, string> = {};

async function victimState(): Promise<string> {
  const q = (sql: string) => api.server.pool.query(sql).then((r) => r.rows);
  return JSON.stringify({
    boxes: await q(
      "SELECT b.name, b.desired_state, b.generation FROM boxes b JOIN orgs o ON o.id = b.org_id WHERE o.name = 'victim' ORDER BY b.name",
    ),
    members: await q(
      "SELECT u.username, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id WHERE o.name = 'victim' ORDER BY 1",
    ),
    secrets: await q(
      "SELECT s.name, s.scope, s.ciphertext, s.updated_at FROM secrets s JOIN orgs o ON o.id = s.org_id WHERE o.name = 'victim' ORDER BY 1, 2",
    ),
    quota: await q("SELECT q.* FROM org_quotas q JOIN orgs o ON o.id = q.org_id WHERE o.name = 'victim'"),
    teams: await q(
      "SELECT t.name, (SELECT count(*) FROM team_members m WHERE m.team_id = t.id) AS members, (SELECT row_to_json(tq) FROM team_quotas tq WHERE tq.team_id = t.id) AS quota FROM teams t JOIN orgs o ON o.id = t.org_id WHERE o.name = 'victim' ORDER BY 1",
    ),
    templates: await q(
      "SELECT t.name, v.version FROM template_versions v JOIN templates t ON t.id = v.template_id JOIN orgs o ON o.id = t.org_id WHERE o.name = 'victim' ORDER BY 1, 2",
    ),
    ports: await q(
      "SELECT p.port, p.visibility FROM box_ports p JOIN boxes b ON b.id = p.box_id WHERE b.name = 'vbox'",
    ),
  });
}

beforeAll(async () => {
  api = await startBoxTestApi();
  const victim = await api.createUser("victor");
  mallory = await api.createUser("mallory");
  await api.call("POST", "/api/v1/orgs", { token: victim, body: { name: "victim" } });
  await api.call("POST", "/api/v1/orgs", { token: mallory, body: { name: "attacker" } });
  await api.call("POST", "/api/v1/orgs/victim/boxes", {
    token: victim,
    body: { name: "vbox", template: "busybox" },
  });
  await api.call("POST", "/api/v1/orgs/victim/teams", { token: victim, body: { name: "vteam" } });
  await api.call("POST", "/api/v1/orgs/victim/templates", {
    token: victim,
    body: { name: "vtpl", spec: { image: { base: "busybox" } } },
  });
  await api.call("PUT", "/api/v1/orgs/victim/teams/vteam/members/victor", { token: victim, body: {} });
  for (const role of ["viewer", "auditor"]) {
    readOnly[role] = await api.createUser(`ro-${role}`);
    await api.call("PUT", `/api/v1/orgs/victim/members/ro-${role}`, { token: victim, body: { role } });
  }
  deadTokens.deleted = await api.createUser("gone");
  await api.call("DELETE", "/api/v1/users/gone");
  deadTokens.suspended = await api.createUser("frozen");
  await api.call("POST", "/api/v1/users/frozen/suspend");
  deadTokens.expired = await api.createUser("late");
  await api.server.pool.query(
    "UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = (SELECT id FROM users WHERE username = 'late')",
  );
  victimBefore = await victimState();
});
afterAll(async () => api?.close());

describe("route accounting (B1)", () => {
  it("classifies every route of the contract", () => {
    const missing = allRoutes.map((r) => r.operationId).filter((id) => !(id in MATRIX));
    expect(missing, "routes without an authorisation case").toEqual([]);
    const stale = Object.keys(MATRIX).filter((id) => !allRoutes.some((r) => r.operationId === id));
    expect(stale, "cases for routes that no longer exist").toEqual([]);
  });

  it("answers 401 without credentials on every protected route", async () => {
    for (const route of allRoutes) {
      const c = MATRIX[route.operationId]!;
      if (c.access === "public") continue;
      const res = await api.call(route.method, pathOf(route), { token: "", body: c.body });
      // Agent routes check their node token after the body is validated, so a
      // malformed body is a 400 first; either way nothing is done without a token.
      const allowed = c.access === "node-token" || c.access === "gateway-token" ? [400, 401] : [401];
      expect(allowed, `${route.method} ${route.path}: ${res.status}`).toContain(res.status);
    }
  });

  it("refuses site-admin routes to an ordinary user", async () => {
    for (const route of allRoutes.filter((r) => MATRIX[r.operationId]!.access === "site-admin")) {
      const res = await api.call(route.method, pathOf(route), {
        token: mallory,
        body: MATRIX[route.operationId]!.body,
      });
      expect([403, 404], `${route.method} ${route.path}`).toContain(res.status);
    }
  });

  it("answers 404 to another org's user on every org route and changes nothing", async () => {
    for (const route of allRoutes.filter((r) => MATRIX[r.operationId]!.access === "org")) {
      const res = await api.call(route.method, pathOf(route), {
        token: mallory,
        body: MATRIX[route.operationId]!.body,
      });
      expect(res.status, `${route.method} ${route.path}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain("vbox_");
    }
    expect(await victimState()).toBe(victimBefore);
  });

  it("answers 401 to a deleted user's, a suspended user's and an expired token on every protected route", async () => {
    for (const [who, token] of Object.entries(deadTokens)) {
      for (const route of allRoutes) {
        const c = MATRIX[route.operationId]!;
        if (c.access === "public" || c.access === "node-token" || c.access === "gateway-token") continue;
        const res = await api.call(route.method, pathOf(route), { token, body: c.body });
        expect(res.status, `${who}: ${route.method} ${route.path}`).toBe(401);
      }
    }
    expect(await victimState()).toBe(victimBefore);
  });

  it("lets a viewer or an auditor of the org change nothing", async () => {
    for (const [role, token] of Object.entries(readOnly)) {
      for (const route of allRoutes.filter(
        (r) => MATRIX[r.operationId]!.access === "org" && r.method !== "GET",
      )) {
        const res = await api.call(route.method, pathOf(route), {
          token,
          body: MATRIX[route.operationId]!.body,
        });
        expect([403, 404], `${role}: ${route.method} ${route.path}: ${res.status}`).toContain(res.status);
      }
    }
    expect(await victimState()).toBe(victimBefore);
  });
});
