// Usage and cost: time in compute-holding states from the state-change log,
// priced with BOXYARD_PRICES, per box and per team; readable by owners,
// admins and auditors.
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let member: string;
let auditor: string;
const org = "/api/v1/orgs/acme";

async function settled(name: string, state: string) {
  return waitFor(async () => {
    const b = (await api.call("GET", `${org}/boxes/${name}`, { token: owner })).body;
    return b.actualState === state && b.observedGeneration === b.generation ? b : null;
  });
}

beforeAll(async () => {
  api = await startBoxTestApi({ env: { BOXYARD_PRICES: "cpuHour=36,memoryGiBHour=3.6,diskGiBMonth=0" } });
  owner = await api.createUser("olive");
  member = await api.createUser("mel");
  auditor = await api.createUser("audrey");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("PUT", `${org}/members/mel`, { token: owner, body: { role: "member" } });
  await api.call("PUT", `${org}/members/audrey`, { token: owner, body: { role: "auditor" } });
  await api.call("POST", `${org}/teams`, { token: owner, body: { name: "web" } });
});
afterAll(async () => api?.close());

describe("usage and cost", () => {
  it("meters time holding compute, priced per CPU and GiB, per box and per team", async () => {
    const before = new Date().toISOString();
    await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "metered", template: "busybox", team: "web" },
    });
    await settled("metered", "running");
    await new Promise((r) => setTimeout(r, 1500));
    await api.call("POST", `${org}/boxes/metered/stop`, { token: owner });
    await settled("metered", "stopped");
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));

    const u = await api.call("GET", `${org}/usage?from=${encodeURIComponent(before)}`, { token: auditor });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({
      currency: "USD",
      prices: { cpuHour: 36, memoryGiBHour: 3.6, diskGiBMonth: 0 },
    });
    const box = u.body.boxes.find((b: { box: string }) => b.box === "metered");
    // busybox: 1 CPU, 256 MiB. Between 1.5 s and the whole test's length of compute.
    const hours = box.computeHours;
    expect(hours * 3600).toBeGreaterThan(1.4);
    expect(hours * 3600).toBeLessThan((Date.now() - Date.parse(before)) / 1000);
    expect(box.cpuHours).toBeCloseTo(hours, 4);
    expect(box.memoryGiBHours).toBeCloseTo(hours / 4, 4);
    expect(box.cost).toBeCloseTo(hours * 36 + (hours / 4) * 3.6, 3);
    expect(u.body.teams).toEqual([expect.objectContaining({ team: "web", cost: box.cost })]);
    expect(u.body.total.cost).toBeCloseTo(box.cost, 4);

    // A stopped box holds no compute: the meter does not move.
    const later = await api.call("GET", `${org}/usage?from=${encodeURIComponent(before)}`, {
      token: auditor,
    });
    const again = later.body.boxes.find((b: { box: string }) => b.box === "metered");
    expect(again.computeHours).toBeCloseTo(hours, 5);
    // A window after the stop has none of its compute.
    const after = await api.call(
      "GET",
      `${org}/usage?from=${encodeURIComponent(new Date(stoppedAt + 100).toISOString())}`,
      {
        token: owner,
      },
    );
    expect(after.body.boxes.find((b: { box: string }) => b.box === "metered").computeHours).toBe(0);
  });

  it("is for owners, admins and auditors, and refuses a backwards window", async () => {
    expect((await api.call("GET", `${org}/usage`, { token: member })).status).toBe(403);
    const bad = await api.call("GET", `${org}/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, {
      token: owner,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("before");
  });
});
