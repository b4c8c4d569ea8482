// Quotas hold under concurrency: admission happens in the same transaction
// as the change, one at a time per org (E1's "exactly the expected number").
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olga");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "tight" } });
});
afterAll(async () => api?.close());

describe("org quotas", () => {
  it("only site admins set quotas; owners read theirs", async () => {
    const denied = await api.call("PUT", "/api/v1/orgs/tight/quota", {
      token: owner,
      body: { maxBoxes: 100 },
    });
    expect(denied.status).toBe(403);
    const set = await api.call("PUT", "/api/v1/orgs/tight/quota", {
      body: { maxBoxes: 5, maxRunningBoxes: 5 },
    });
    expect(set.status).toBe(200);
    const got = await api.call("GET", "/api/v1/orgs/tight/quota", { token: owner });
    expect(got.body).toMatchObject({
      limits: { maxBoxes: 5, maxRunningBoxes: 5, cpu: null },
      usage: { boxes: 0, runningBoxes: 0 },
    });
  });

  it("admits exactly 5 of 20 concurrent creates; the rest get 429 with the limit and usage", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.call("POST", "/api/v1/orgs/tight/boxes", {
          token: owner,
          body: { name: `b${i}`, template: "busybox" },
        }),
      ),
    );
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    expect(accepted).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r.body).toMatchObject({ code: "quota_exceeded", dimension: "maxBoxes", limit: 5 });
      expect(r.headers.get("retry-after")).toBe("60");
    }
    const list = await api.call("GET", "/api/v1/orgs/tight/boxes", { token: owner });
    expect(list.body.items).toHaveLength(5);
    const quota = await api.call("GET", "/api/v1/orgs/tight/quota", { token: owner });
    expect(quota.body.usage).toMatchObject({ boxes: 5, runningBoxes: 5, cpu: 5, memoryMiB: 5 * 256 });
  });

  it("checks start against the running-box and CPU limits", async () => {
    await api.call("PUT", "/api/v1/orgs/tight/quota", { body: { maxBoxes: 5, maxRunningBoxes: 4 } });
    const boxes = (await api.call("GET", "/api/v1/orgs/tight/boxes", { token: owner })).body.items;
    const name = boxes[0].name;
    expect((await api.call("POST", `/api/v1/orgs/tight/boxes/${name}/stop`, { token: owner })).status).toBe(
      202,
    );
    // Four now hold compute; a fifth may not start while the limit is 4 … but the stopped one may not
    // come back while four others run, since starting it would make five.
    await api.call("PUT", "/api/v1/orgs/tight/quota", { body: { maxBoxes: 5, maxRunningBoxes: 4 } });
    const start = await api.call("POST", `/api/v1/orgs/tight/boxes/${name}/start`, { token: owner });
    expect(start.status).toBe(429);
    expect(start.body).toMatchObject({
      code: "quota_exceeded",
      dimension: "maxRunningBoxes",
      limit: 4,
      usage: 5,
    });
    // Nothing changed: the box is still wanted stopped.
    const box = await api.call("GET", `/api/v1/orgs/tight/boxes/${name}`, { token: owner });
    expect(box.body.desiredState).toBe("stopped");
    await api.call("PUT", "/api/v1/orgs/tight/quota", {
      body: { maxBoxes: 5, maxRunningBoxes: 5, cpu: 4.5 },
    });
    const cpu = await api.call("POST", `/api/v1/orgs/tight/boxes/${name}/start`, { token: owner });
    expect(cpu.status).toBe(429);
    expect(cpu.body).toMatchObject({ dimension: "cpu", limit: 4.5 });
  });
});
