// Prebuilds through the API on the fake runtime (issue 7): a template push
// with init commands queues a prebuild the node runs in a throw-away box and
// keeps as a layer; a new box starts from the newest ready one and shows it;
// a failing init fails the prebuild with its log and boxes are still made
// (from the image alone); prebuilds are queued on request (audited), listed,
// read and their logs read or followed; bad requests change nothing and
// another org's prebuilds are 404 (B1). The real-runtime proof (a git
// repository, timings, a new commit, the secret canary) is
// tests/e2e/prebuilds.e2e.test.ts.

import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let member: string;
let outsider: string;
const org = "/api/v1/orgs/acme";

async function push(name: string, spec: unknown) {
  const res = await api.call("POST", `${org}/templates`, { token: owner, body: { name, spec } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { version: number };
}

async function prebuilds(name: string) {
  const res = await api.call("GET", `${org}/templates/${name}/prebuilds`, { token: member });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as Array<Record<string, unknown>>;
}

async function settled(name: string, id: string) {
  return waitFor(
    async () => {
      const p = (await api.call("GET", `${org}/templates/${name}/prebuilds/${id}`, { token: member })).body;
      return p.status === "ready" || p.status === "failed" ? p : undefined;
    },
    { timeoutMs: 15_000, message: `prebuild ${id}` },
  );
}

async function running(name: string) {
  return waitFor(
    async () => {
      const b = (await api.call("GET", `${org}/boxes/${name}`, { token: member })).body;
      return b.actualState === "running" ? b : undefined;
    },
    { timeoutMs: 15_000, message: `box ${name} running` },
  );
}

async function logOf(name: string, id: string, query = ""): Promise<string> {
  const res = await fetch(`${api.url}${org}/templates/${name}/prebuilds/${id}/logs${query}`, {
    headers: { authorization: `Bearer ${member}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olive");
  member = await api.createUser("mia");
  outsider = await api.createUser("oscar");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("PUT", `${org}/members/mia`, { token: owner, body: { role: "member" } });
  await api.call("POST", "/api/v1/orgs", { token: outsider, body: { name: "other" } });
});
afterAll(async () => api?.close());

describe("prebuilds", () => {
  it("run on push, and a new box starts from the newest ready one and shows it", async () => {
    await push("app", { image: { base: "busybox" }, init: ["echo built once > /workspace/marker"] });
    const [queued] = await prebuilds("app");
    expect(queued).toMatchObject({
      template: "app",
      version: 1,
      trigger: "push",
      requestedBy: "olive",
      ref: null,
    });
    const p = await settled("app", String(queued!.id));
    expect(p).toMatchObject({ status: "ready", commit: null, error: null, attempts: 1 });
    expect(p.layer).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p.node).toBeTruthy();
    const log = await logOf("app", p.id);
    expect(log).toContain("init 1/1: echo built once > /workspace/marker");
    expect(log).toContain(`ready in`);
    // The throw-away box is gone.
    expect([...api.runtime.state.boxes.keys()].filter((id) => id.startsWith("pb_"))).toEqual([]);

    const made = await api.call("POST", `${org}/boxes`, {
      token: member,
      body: { name: "b1", template: "app" },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    const box = await running("b1");
    expect(box.prebuild).toEqual({ id: p.id, commit: null });
    const cat = await api.call("POST", `${org}/boxes/b1/exec`, {
      token: member,
      body: { command: ["cat", "/workspace/marker"] },
    });
    expect(cat.body).toMatchObject({ exitCode: 0, stdout: "built once\n" });

    // A requested prebuild is audited; the next box starts from it.
    const asked = await api.call("POST", `${org}/templates/app/prebuilds`, { token: owner, body: {} });
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body).toMatchObject({ trigger: "request", requestedBy: "olive", version: 1 });
    const second = await settled("app", asked.body.id);
    expect(second.status).toBe("ready");
    await api.call("POST", `${org}/boxes`, { token: member, body: { name: "b2", template: "app" } });
    expect((await running("b2")).prebuild.id).toBe(second.id);
    expect((await prebuilds("app")).map((x) => x.id)).toEqual([second.id, p.id]);
    const audit = await api.call("GET", `${org}/audit?action=template.prebuild.request`, { token: owner });
    expect(audit.body.items.map((e: { details: unknown }) => e.details)).toEqual([
      { version: 1, prebuild: second.id },
    ]);
  });

  it("fail with the command and its log when init fails; boxes are still made, from the image alone", async () => {
    await push("broken", { image: { base: "busybox" }, init: ["echo first > /workspace/a", "exit 3"] });
    const [queued] = await prebuilds("broken");
    const p = await settled("broken", String(queued!.id));
    expect(p.status).toBe("failed");
    expect(p.error).toContain("init command 2 exited with 3");
    expect(p.layer).toBeNull();
    const log = await logOf("broken", p.id);
    expect(log).toContain("init 1/2: done");
    expect(log).toContain("prebuild failed: init command 2 exited with 3");
    // The log can be followed: it ends with the prebuild as it ended.
    const followed = await logOf("broken", p.id, "?follow=1");
    expect(followed).toContain("event: end");
    expect(followed).toContain('"status":"failed"');
    await api.call("POST", `${org}/boxes`, { token: member, body: { name: "b3", template: "broken" } });
    const box = await running("b3");
    expect(box.prebuild).toBeNull();
    expect([...api.runtime.state.boxes.keys()].filter((id) => id.startsWith("pb_"))).toEqual([]);
  });

  it("refuse what cannot be prebuilt, and what the caller may not see or do, changing nothing", async () => {
    await push("plain", { image: { base: "busybox" } });
    const before = (await api.server.pool.query("SELECT count(*)::int AS n FROM prebuilds")).rows[0].n;
    const cases: Array<[string, string, unknown, number, string]> = [
      [owner, "plain", {}, 400, "validation_failed"],
      [owner, "app", { ref: "main" }, 400, "validation_failed"],
      [owner, "app", { version: 9 }, 404, "template_not_found"],
      [owner, "nope", {}, 404, "template_not_found"],
      [member, "app", {}, 403, "forbidden"],
      [outsider, "app", {}, 404, "org_not_found"],
    ];
    for (const [token, name, body, status, code] of cases) {
      const res = await api.call("POST", `${org}/templates/${name}/prebuilds`, { token, body });
      expect(res.status, `${name} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.code).toBe(code);
    }
    expect((await api.server.pool.query("SELECT count(*)::int AS n FROM prebuilds")).rows[0].n).toBe(before);
    const [p] = await prebuilds("app");
    // Another org's prebuild id, under its own org or this template's name, is not found.
    await push("plain2", { image: { base: "busybox" } });
    for (const path of [
      `/api/v1/orgs/other/templates/app/prebuilds/${p!.id}`,
      `${org}/templates/plain/prebuilds/${p!.id}`,
      `${org}/templates/app/prebuilds/pb_00000000000000000000`,
    ]) {
      const res = await api.call("GET", path, { token: path.includes("/other/") ? outsider : member });
      expect(res.status, path).toBe(404);
    }
  });
});
