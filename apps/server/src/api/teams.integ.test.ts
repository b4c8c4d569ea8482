// Teams: boxes belong to a team only when its members (or org admins) put
// them there, and a team's quota is admitted in the same transaction as the
// org's, so concurrent creates cannot overshoot either.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let bob: string;
let carol: string;
const org = "/api/v1/orgs/acme";

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olive");
  bob = await api.createUser("bob");
  carol = await api.createUser("carol");
  await api.createUser("outsider");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  for (const u of ["bob", "carol"])
    await api.call("PUT", `${org}/members/${u}`, { token: owner, body: { role: "member" } });
});
afterAll(async () => api?.close());

describe("teams", () => {
  it("are created and staffed by org owners and admins, from the org's members only", async () => {
    const created = await api.call("POST", `${org}/teams`, { token: owner, body: { name: "web" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "web", members: 0, boxes: 0 });
    expect((await api.call("POST", `${org}/teams`, { token: owner, body: { name: "web" } })).body.code).toBe(
      "team_exists",
    );
    expect((await api.call("POST", `${org}/teams`, { token: bob, body: { name: "mine" } })).status).toBe(403);

    expect((await api.call("PUT", `${org}/teams/web/members/bob`, { token: owner, body: {} })).status).toBe(
      200,
    );
    const outsider = await api.call("PUT", `${org}/teams/web/members/outsider`, { token: owner, body: {} });
    expect(outsider.status).toBe(404);
    expect(outsider.body.detail).toContain("add them to it first");
    expect(
      (await api.call("PUT", `${org}/teams/nope/members/bob`, { token: owner, body: {} })).body.code,
    ).toBe("team_not_found");
    const members = await api.call("GET", `${org}/teams/web/members`, { token: carol });
    expect(members.body.items.map((m: { username: string }) => m.username)).toEqual(["bob"]);
  });

  it("take boxes only from their members (or org admins)", async () => {
    const mine = await api.call("POST", `${org}/boxes`, {
      token: bob,
      body: { name: "bob-web", template: "busybox", team: "web" },
    });
    expect(mine.status).toBe(202);
    expect(mine.body.box.team).toBe("web");
    const notMine = await api.call("POST", `${org}/boxes`, {
      token: carol,
      body: { name: "carol-web", template: "busybox", team: "web" },
    });
    expect(notMine.status).toBe(403);
    const noTeam = await api.call("POST", `${org}/boxes`, {
      token: carol,
      body: { name: "carol-x", template: "busybox", team: "ghost" },
    });
    expect(noTeam.body.code).toBe("team_not_found");
    expect(
      (
        await api.call("POST", `${org}/boxes`, {
          token: owner,
          body: { name: "olive-web", template: "busybox", team: "web" },
        })
      ).status,
    ).toBe(202);
    const listed = await api.call("GET", `${org}/boxes?team=web`, { token: carol });
    expect(listed.body.items.map((b: { name: string }) => b.name).sort()).toEqual(["bob-web", "olive-web"]);
    const teams = await api.call("GET", `${org}/teams`, { token: carol });
    expect(teams.body.items).toEqual([expect.objectContaining({ name: "web", members: 1, boxes: 2 })]);
  });

  it("have a quota the org's admins set, admitted exactly under concurrency", async () => {
    expect(
      (await api.call("PUT", `${org}/teams/web/quota`, { token: bob, body: { maxBoxes: 1 } })).status,
    ).toBe(403);
    const set = await api.call("PUT", `${org}/teams/web/quota`, { token: owner, body: { maxBoxes: 5 } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ limits: { maxBoxes: 5 }, usage: { boxes: 2 } });

    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api.call("POST", `${org}/boxes`, {
          token: bob,
          body: { name: `burst-${i}`, template: "busybox", team: "web" },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.body).toMatchObject({ code: "quota_exceeded", limit: 5 });
    expect(refused.body.detail).toContain("the team's quota");
    // Outside the team only the org's quota (none here) applies.
    expect(
      (
        await api.call("POST", `${org}/boxes`, {
          token: bob,
          body: { name: "bob-solo", template: "busybox" },
        })
      ).status,
    ).toBe(202);
    const q = await api.call("GET", `${org}/teams/web/quota`, { token: carol });
    expect(q.body.usage.boxes).toBe(5);
  });

  it("take members off without touching their boxes", async () => {
    expect((await api.call("DELETE", `${org}/teams/web/members/bob`, { token: owner })).status).toBe(204);
    expect((await api.call("DELETE", `${org}/teams/web/members/bob`, { token: owner })).status).toBe(404);
    const box = await api.call("GET", `${org}/boxes/bob-web`, { token: bob });
    expect(box.body.team).toBe("web");
    const again = await api.call("POST", `${org}/boxes`, {
      token: bob,
      body: { name: "bob-web-2", template: "busybox", team: "web" },
    });
    expect(again.status).toBe(403);
  });
});
