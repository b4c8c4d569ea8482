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

  it("rejects unsafe names (C5)", async () => {
    for (const name of ["../etc", "Acme", "a".repeat(64), "-x", "x-", "con", "a b", "é"]) {
      const res = await api.call("POST", "/api/v1/orgs", { body: { name } });
      expect(res.status, name).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });
});
