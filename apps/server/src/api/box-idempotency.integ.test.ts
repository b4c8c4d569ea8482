import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let alice: string;
const base = "/api/v1/orgs/acme/boxes";

beforeAll(async () => {
  api = await startBoxTestApi();
  alice = await api.createUser("alice");
  await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } });
});
afterAll(async () => api?.close());

async function countBoxes(name: string): Promise<number> {
  const { rows } = await api.server.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM boxes WHERE name = $1 AND deleted_at IS NULL`,
    [name],
  );
  return rows[0]!.n;
}

describe("Idempotency-Key on box creates (D5)", () => {
  it("returns the first response for the same key and body, 422 for a different body", async () => {
    const headers = { "idempotency-key": "create-a1" };
    const first = await api.call("POST", base, {
      token: alice,
      headers,
      body: { name: "a1", template: "busybox" },
    });
    expect(first.status).toBe(202);
    const again = await api.call("POST", base, {
      token: alice,
      headers,
      body: { template: "busybox", name: "a1" },
    });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotency-replayed")).toBe("true");
    const other = await api.call("POST", base, {
      token: alice,
      headers,
      body: { name: "a2", template: "busybox" },
    });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
    expect(await countBoxes("a1")).toBe(1);
    expect(await countBoxes("a2")).toBe(0);
  });

  it("20 concurrent creates with one key make exactly one box, and all get its id (D5, E1)", async () => {
    const headers = { "idempotency-key": "burst-1" };
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call("POST", base, { token: alice, headers, body: { name: "burst", template: "busybox" } }),
      ),
    );
    const ids = new Set(
      results.map((r) => (r.status === 202 ? r.body.box.id : `status ${r.status} ${r.body?.code}`)),
    );
    expect([...ids]).toHaveLength(1);
    expect([...ids][0]).toMatch(/^box_/);
    expect(await countBoxes("burst")).toBe(1);
  });

  it("the same key on a delete replays its first answer", async () => {
    const headers = { "idempotency-key": "del-a1" };
    const first = await api.call("DELETE", `${base}/a1`, { token: alice, headers });
    expect(first.status).toBe(202);
    const again = await api.call("DELETE", `${base}/a1`, { token: alice, headers });
    expect(again.body.operation.id).toBe(first.body.operation.id);
  });
});

describe("box names are unique per org under concurrency (E1)", () => {
  it("20 concurrent creates of one name: one 202, the rest 409 box_exists", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call("POST", base, { token: alice, body: { name: "race", template: "busybox" } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === "box_exists")).toBe(true);
    expect(await countBoxes("race")).toBe(1);
  });
});
