// A box's history: state changes and the actions taken on it, merged newest
// first, paged with a cursor; readable by whoever may read the box, with
// only plain audit details (no addresses or command arguments).
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let viewer: string;
let outsider: string;
const org = "/api/v1/orgs/acme";

interface Entry {
  kind: "state" | "oom_kill" | "action";
  id: string;
  at: string;
  to?: string;
  from?: string | null;
  reason?: string;
  state?: string;
  action?: string;
  actor?: { kind: string; name: string | null };
  result?: string;
  details?: Record<string, unknown>;
}

async function settled(name: string, state: string) {
  return waitFor(async () => {
    const b = (await api.call("GET", `${org}/boxes/${name}`, { token: owner })).body;
    return b.actualState === state && b.observedGeneration === b.generation ? b : null;
  });
}

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olive");
  viewer = await api.createUser("vic");
  outsider = await api.createUser("otto");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("POST", "/api/v1/orgs", { token: outsider, body: { name: "other" } });
  await api.call("PUT", `${org}/members/vic`, { token: owner, body: { role: "viewer" } });
  await api.call("POST", `${org}/boxes`, { token: owner, body: { name: "hist", template: "busybox" } });
  const { id } = await settled("hist", "running");
  // The box's OOM guard kills a process: a history entry of its own (the state does not change).
  api.runtime.oomKill(id, { command: "awk", uid: 1000, rssMiB: 70 });
  await waitFor(async () =>
    (await api.call("GET", `${org}/boxes/hist`, { token: owner })).body.oomKills === 1 ? true : null,
  );
  await api.call("PUT", `${org}/boxes/hist/ports/8080`, { token: owner, body: { visibility: "org" } });
  await api.call("POST", `${org}/boxes/hist/exec`, {
    token: owner,
    body: { command: ["echo", "secret-argument"] },
  });
  await api.call("POST", `${org}/boxes/hist/stop`, { token: owner });
  await settled("hist", "stopped");
  // A viewer reads the history but may not start the box; a member may not act on someone else's box.
  expect((await api.call("POST", `${org}/boxes/hist/start`, { token: viewer })).status).toBe(403);
  const member = await api.createUser("mia");
  await api.call("PUT", `${org}/members/mia`, { token: owner, body: { role: "member" } });
  expect((await api.call("DELETE", `${org}/boxes/hist`, { token: member })).status).toBe(403);
});
afterAll(async () => api?.close());

describe("box history", () => {
  it("lists state changes and who did what, newest first, to whoever may read the box", async () => {
    const res = await api.call("GET", `${org}/boxes/hist/history`, { token: viewer });
    expect(res.status).toBe(200);
    const items = res.body.items as Entry[];
    expect(res.body.nextCursor).toBeNull();
    const times = items.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const actions = items.filter((e) => e.kind === "action").map((e) => [e.action, e.actor?.name, e.result]);
    expect(actions).toEqual(
      expect.arrayContaining([
        ["box.create", "olive", "success"],
        ["box.port.share", "olive", "success"],
        ["box.exec", "olive", "success"],
        ["box.stop", "olive", "success"],
        // Refusals name the box too.
        ["box.start", "vic", "denied"],
        ["box.delete", "mia", "denied"],
      ]),
    );
    const states = items.filter((e) => e.kind === "state").map((e) => e.to);
    expect(states).toEqual(expect.arrayContaining(["running", "stopping", "stopped"]));
    // Newest first: the box stopped after it ran.
    expect(states.indexOf("stopped")).toBeLessThan(states.indexOf("running"));

    const oom = items.filter((e) => e.kind === "oom_kill");
    expect(oom).toEqual([
      expect.objectContaining({ state: "running", reason: expect.stringContaining("pid") }),
    ]);
    expect(oom[0]!.reason).toContain("(awk)");
    const share = items.find((e) => e.action === "box.port.share");
    expect(share?.details).toEqual({ port: 8080, visibility: "org" });
    const exec = items.find((e) => e.action === "box.exec");
    expect(exec?.details).toEqual({ program: "echo" });
    expect(JSON.stringify(items)).not.toContain("secret-argument");
  });

  it("pages with a cursor without losing or repeating an entry", async () => {
    const all = (await api.call("GET", `${org}/boxes/hist/history?limit=200`, { token: owner })).body
      .items as Entry[];
    expect(all.length).toBeGreaterThan(6);
    const paged: Entry[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await api.call("GET", `${org}/boxes/hist/history?limit=3${q}`, { token: owner });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      paged.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it("refuses a made-up cursor and hides the box from other orgs", async () => {
    const bad = await api.call("GET", `${org}/boxes/hist/history?cursor=nope`, { token: owner });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("validation_failed");
    const other = await api.call("GET", `${org}/boxes/hist/history`, { token: outsider });
    expect(other.status).toBe(404);
    const missing = await api.call("GET", `${org}/boxes/nobox/history`, { token: owner });
    expect(missing.body.code).toBe("box_not_found");
  });
});
