import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => api?.close());

describe("orgs and members", () => {
  it("creates an org with the caller as owner and lists it", async () => {
    const alice = await api.createUser("alice");
    const created = await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "acme", role: "owner" });
    const list = await api.call("GET", "/api/v1/orgs", { token: alice });
    expect(list.body.items.map((o: { name: string }) => o.name)).toEqual(["acme"]);
    const dup = await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe("org_exists");
  });

  it("hides another tenant's org as 404, not 403 (B1)", async () => {
    const mallory = await api.createUser("mallory");
    for (const [method, path, body] of [
      ["GET", "/api/v1/orgs/acme", undefined],
      ["GET", "/api/v1/orgs/acme/members", undefined],
      ["PUT", "/api/v1/orgs/acme/members/mallory", { role: "owner" }],
    ] as const) {
      const res = await api.call(method, path, { token: mallory, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe("org_not_found");
    }
    const members = await api.call("GET", "/api/v1/orgs/acme/members");
    expect(members.body.items.map((m: { username: string }) => m.username)).toEqual(["alice"]);
  });

  it("lets admins manage members but not make owners, and keeps one owner", async () => {
    const alice = (await api.call("POST", "/api/v1/users/alice/tokens", { body: { name: "t2" } })).body.token;
    const bob = await api.createUser("bob");
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/members/bob", { token: alice, body: { role: "admin" } }))
        .status,
    ).toBe(200);
    await api.createUser("carol");
    const makeOwner = await api.call("PUT", "/api/v1/orgs/acme/members/carol", {
      token: bob,
      body: { role: "owner" },
    });
    expect(makeOwner.status).toBe(403);
    const demoteLast = await api.call("PUT", "/api/v1/orgs/acme/members/alice", {
      token: alice,
      body: { role: "member" },
    });
    expect(demoteLast.status).toBe(403);
    const members = await api.call("GET", "/api/v1/orgs/acme/members", { token: bob });
    expect(members.body.items).toEqual([
      expect.objectContaining({ username: "alice", role: "owner" }),
      expect.objectContaining({ username: "bob", role: "admin" }),
    ]);
  });

  it("removes members: out of the org and its teams, only owners remove owners, the last owner stays, denials change nothing", async () => {
    const alice = (await api.call("POST", "/api/v1/users/alice/tokens", { body: { name: "t3" } })).body.token;
    const bob = (await api.call("POST", "/api/v1/users/bob/tokens", { body: { name: "t3" } })).body.token;
    const dave = await api.createUser("dave");
    const erin = await api.createUser("erin");
    for (const [who, role] of [
      ["carol", "owner"],
      ["dave", "member"],
      ["erin", "viewer"],
    ] as const)
      expect(
        (await api.call("PUT", `/api/v1/orgs/acme/members/${who}`, { token: alice, body: { role } })).status,
      ).toBe(200);
    expect(
      (await api.call("POST", "/api/v1/orgs/acme/teams", { token: alice, body: { name: "web" } })).status,
    ).toBe(201);
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/teams/web/members/dave", { token: alice, body: {} })).status,
    ).toBe(200);
    const names = async () =>
      (await api.call("GET", "/api/v1/orgs/acme/members", { token: alice })).body.items.map(
        (m: { username: string; role: string }) => `${m.username}:${m.role}`,
      );
    const before = await names();
    // Refused, and nothing changes: a member or viewer may not; an admin may not remove an owner; another org's admin sees no org.
    for (const [token, who, status, code] of [
      [dave, "erin", 403, "forbidden"],
      [erin, "dave", 403, "forbidden"],
      [bob, "carol", 403, "forbidden"],
      [alice, "mallory", 404, "user_not_found"],
      [alice, "nobody", 404, "user_not_found"],
    ] as const) {
      const res = await api.call("DELETE", `/api/v1/orgs/acme/members/${who}`, { token });
      expect([res.status, res.body.code], who).toEqual([status, code]);
    }
    const mallory = (await api.call("POST", "/api/v1/users/mallory/tokens", { body: { name: "t" } })).body
      .token;
    const cross = await api.call("DELETE", "/api/v1/orgs/acme/members/dave", { token: mallory });
    expect([cross.status, cross.body.code]).toEqual([404, "org_not_found"]);
    expect(await names()).toEqual(before);

    // An admin removes a member: gone from the org and its team, and the org is gone for them.
    expect((await api.call("DELETE", "/api/v1/orgs/acme/members/dave", { token: bob })).status).toBe(204);
    expect(await names()).not.toContain("dave:member");
    const team = await api.call("GET", "/api/v1/orgs/acme/teams/web/members", { token: alice });
    expect(team.body.items).toEqual([]);
    expect((await api.call("GET", "/api/v1/orgs/acme", { token: dave })).status).toBe(404);
    const audit = await api.call("GET", "/api/v1/orgs/acme/audit?action=org.member.remove", { token: alice });
    expect(
      audit.body.items.map(
        (e: { result: string; target: { name: string } }) => `${e.target.name}:${e.result}`,
      ),
    ).toEqual(expect.arrayContaining(["dave:success", "carol:denied"]));

    // Owners remove owners, never the last one.
    expect((await api.call("DELETE", "/api/v1/orgs/acme/members/carol", { token: alice })).status).toBe(204);
    const last = await api.call("DELETE", "/api/v1/orgs/acme/members/alice", { token: alice });
    expect([last.status, last.body.code]).toEqual([403, "forbidden"]);
    expect(await names()).toContain("alice:owner");
  });

  it("rejects unsafe names (C5)", async () => {
    for (const name of ["../etc", "Acme", "a".repeat(64), "-x", "x-", "con", "a b", "é"]) {
      const res = await api.call("POST", "/api/v1/orgs", { body: { name } });
      expect(res.status, name).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });
});
