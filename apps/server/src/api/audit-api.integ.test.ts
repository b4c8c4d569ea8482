// B8/B9 through the API: mutations and denials land in the org's audit log
// with actor, action, target, result, request id and source address, and the
// chain verifies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
let owner: string;
let member: string;
let auditor: string;

beforeAll(async () => {
  api = await startTestApi();
  owner = await api.createUser("olivia");
  member = await api.createUser("mike");
  auditor = await api.createUser("audrey");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("PUT", "/api/v1/orgs/acme/members/mike", { token: owner, body: { role: "member" } });
  await api.call("PUT", "/api/v1/orgs/acme/members/audrey", { token: owner, body: { role: "auditor" } });
});
afterAll(async () => api?.close());

describe("audit log", () => {
  it("records mutations with who, what, result, request id and source", async () => {
    const res = await api.call("GET", "/api/v1/orgs/acme/audit", { token: auditor });
    expect(res.status).toBe(200);
    const actions = res.body.items.map((e: { action: string }) => e.action);
    expect(actions).toEqual(["org.member.set", "org.member.set", "org.create"]);
    expect(res.body.items[0]).toMatchObject({
      actor: { kind: "user", name: "olivia" },
      target: { kind: "user", name: "audrey" },
      result: "success",
      details: { role: "auditor" },
      sourceIp: "127.0.0.1",
    });
    expect(res.body.items[0].requestId).toBeTruthy();
  });

  it("records a denial in the org's chain", async () => {
    const denied = await api.call("PUT", "/api/v1/orgs/acme/members/mike", {
      token: member,
      body: { role: "admin" },
    });
    expect(denied.status).toBe(403);
    const res = await api.call("GET", "/api/v1/orgs/acme/audit?result=denied", { token: auditor });
    expect(res.body.items[0]).toMatchObject({
      action: "member.set",
      result: "denied",
      actor: { name: "mike" },
    });
  });

  it("lets auditors and owners read it, not members, and verifies the chain", async () => {
    expect((await api.call("GET", "/api/v1/orgs/acme/audit", { token: member })).status).toBe(403);
    const v = await api.call("GET", "/api/v1/orgs/acme/audit/verify", { token: auditor });
    expect(v.body).toMatchObject({ ok: true });
    expect(v.body.checked).toBeGreaterThanOrEqual(4);
  });

  it("pages with a cursor and filters by action", async () => {
    const page1 = await api.call("GET", "/api/v1/orgs/acme/audit?limit=2", { token: owner });
    expect(page1.body.items).toHaveLength(2);
    const page2 = await api.call("GET", `/api/v1/orgs/acme/audit?limit=2&cursor=${page1.body.nextCursor}`, {
      token: owner,
    });
    expect(page2.body.items[0].id).toBeLessThan(page1.body.items[1].id);
    const only = await api.call("GET", "/api/v1/orgs/acme/audit?action=org.create", { token: owner });
    expect(only.body.items.map((e: { action: string }) => e.action)).toEqual(["org.create"]);
  });
});
