import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, GatedRuntime, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let alice: string;
const runtime = new GatedRuntime();
const base = "/api/v1/orgs/acme/boxes";

beforeAll(async () => {
  api = await startBoxTestApi({ runtime });
  alice = await api.createUser("alice");
  expect((await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } })).status).toBe(201);
});
afterAll(async () => api?.close());

async function box(name: string) {
  return (await api.call("GET", `${base}/${name}`, { token: alice })).body;
}

async function waitState(name: string, actualState: string) {
  return waitFor(
    async () => {
      const b = await box(name);
      return b.actualState === actualState && b.observedGeneration === b.generation ? b : null;
    },
    { message: `box ${name} to be ${actualState}`, timeoutMs: 15_000 },
  );
}

async function waitOperation(id: string) {
  return waitFor(
    async () => {
      const op = (await api.call("GET", `/api/v1/operations/${id}`, { token: alice })).body;
      return op.status !== "pending" ? op : null;
    },
    { message: `operation ${id} to finish` },
  );
}

/** One parsed SSE event; the data is whatever JSON the server sent. */
interface SseEvent {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on arbitrary JSON shapes.
  data: any;
}

/** Reads an SSE stream until `until` holds for the events so far. */
async function readEvents(path: string, until: (events: SseEvent[]) => boolean) {
  const controller = new AbortController();
  const res = await fetch(api.url + path, {
    headers: { authorization: `Bearer ${alice}` },
    signal: controller.signal,
  });
  expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  const reader = res.body!.getReader();
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
        i = buf.indexOf("\n\n");
      }
    }
  } finally {
    controller.abort();
  }
  return events;
}

describe("box lifecycle through the API with the in-process agent and fake runtime", () => {
  it("create -> running -> stop -> start -> pause -> resume -> delete, with operations and events", async () => {
    const created = await api.call("POST", base, {
      token: alice,
      body: { name: "dev1", template: "busybox" },
    });
    expect(created.status).toBe(202);
    expect(created.body.box).toMatchObject({
      name: "dev1",
      org: "acme",
      owner: "alice",
      template: "busybox",
      templateVersion: 1,
      desiredState: "running",
      generation: 1,
      resources: { cpu: 1, memoryMiB: 256, diskGiB: 1, gpus: 0 },
      persistent: false,
      lastError: null,
    });
    const boxId = created.body.box.id;
    // The stream starts now and must see every transition to the end.
    const stream = readEvents(`${base}/dev1/events`, (ev) => ev.some((e) => e.data.to === "deleted"));

    const running = await waitState("dev1", "running");
    expect(running.node).toBeTruthy();
    expect((await waitOperation(created.body.operation.id)).status).toBe("succeeded");
    expect(api.runtime.state.boxes.get(boxId)?.phase).toBe("running");

    const exec = await api.call("POST", `${base}/dev1/exec`, {
      token: alice,
      body: { command: ["echo", "hello"] },
    });
    expect(exec.status).toBe(200);
    expect(exec.body).toMatchObject({ exitCode: 0, stdout: "hello\n" });

    for (const [verb, state, phase] of [
      ["stop", "stopped", "stopped"],
      ["start", "running", "running"],
      ["pause", "paused", "paused"],
      ["resume", "running", "running"],
    ] as const) {
      const res = await api.call("POST", `${base}/dev1/${verb}`, { token: alice });
      expect(res.status, verb).toBe(202);
      await waitState("dev1", state);
      expect((await waitOperation(res.body.operation.id)).status).toBe("succeeded");
      expect(api.runtime.state.boxes.get(boxId)?.phase).toBe(phase);
    }

    const del = await api.call("DELETE", `${base}/dev1`, { token: alice });
    expect(del.status).toBe(202);
    expect((await waitOperation(del.body.operation.id)).status).toBe("succeeded");
    expect(api.runtime.state.boxes.has(boxId)).toBe(false);
    expect((await api.call("GET", `${base}/dev1`, { token: alice })).status).toBe(404);

    const events = await stream;
    expect(events[0]).toMatchObject({ event: "state", data: { name: "dev1" } });
    const tos = events.filter((e) => e.event === "transition").map((e) => e.data.to);
    for (const s of [
      "running",
      "stopping",
      "stopped",
      "starting",
      "pausing",
      "paused",
      "resuming",
      "deleting",
      "deleted",
    ]) {
      expect(tos, s).toContain(s);
    }
    expect(events.every((e) => e.event !== "transition" || typeof e.data.reason === "string")).toBe(true);

    // A deleted name can be reused at once, by a new box.
    const again = await api.call("POST", base, { token: alice, body: { name: "dev1", template: "busybox" } });
    expect(again.status).toBe(202);
    expect(again.body.box.id).not.toBe(boxId);
    await waitState("dev1", "running");
  });

  it("answers no-ops and invalid transitions from the table", async () => {
    const start = await api.call("POST", `${base}/dev1/start`, { token: alice });
    expect(start.status).toBe(202);
    expect(start.body.box.generation).toBe(1);
    expect(start.body.operation.status).toBe("succeeded");
    await api.call("POST", `${base}/dev1/stop`, { token: alice });
    await waitState("dev1", "stopped");
    const pause = await api.call("POST", `${base}/dev1/pause`, { token: alice });
    expect(pause.status).toBe(409);
    expect(pause.body.code).toBe("invalid_transition");
    const exec = await api.call("POST", `${base}/dev1/exec`, { token: alice, body: { command: ["true"] } });
    expect(exec.status).toBe(409);
    expect(exec.body.code).toBe("box_not_running");
  });

  it("validates creates: unknown template 404, resources out of bounds 400 with the field path", async () => {
    const t = await api.call("POST", base, { token: alice, body: { name: "x1", template: "nope" } });
    expect(t.status).toBe(404);
    expect(t.body.code).toBe("template_not_found");
    const r = await api.call("POST", base, {
      token: alice,
      body: { name: "x1", template: "debian", resources: { cpu: 100 } },
    });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].path).toBe("resources.cpu");
    const ok = await api.call("POST", base, {
      token: alice,
      body: { name: "big", template: "debian", resources: { memoryMiB: 2048 }, persistent: true },
    });
    expect(ok.status).toBe(202);
    expect(ok.body.box.resources).toEqual({ cpu: 2, memoryMiB: 2048, diskGiB: 5, gpus: 0 });
  });

  it("lists with filters and keyset pagination", async () => {
    for (const n of ["p1", "p2", "p3"])
      await api.call("POST", base, { token: alice, body: { name: n, template: "busybox" } });
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = await api.call("GET", `${base}${q}`, { token: alice });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      names.push(...page.body.items.map((b: { name: string }) => b.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(names).toEqual(expect.arrayContaining(["dev1", "big", "p1", "p2", "p3"]));
    expect(new Set(names).size).toBe(names.length);
    const mine = await api.call("GET", `${base}?owner=alice&state=stopped`, { token: alice });
    expect(mine.body.items.map((b: { name: string }) => b.name)).toEqual(["dev1"]);
  });

  it("hides boxes and operations from other tenants (404) and lists nodes for site admins", async () => {
    const mallory = await api.createUser("mallory");
    const created = await api.call("POST", base, {
      token: alice,
      body: { name: "secret", template: "busybox" },
    });
    expect((await api.call("GET", `${base}/secret`, { token: mallory })).status).toBe(404);
    const op = await api.call("GET", `/api/v1/operations/${created.body.operation.id}`, { token: mallory });
    expect(op.status).toBe(404);
    expect(op.body.code).toBe("operation_not_found");
    expect((await api.call("GET", "/api/v1/nodes", { token: mallory })).status).toBe(403);
    const nodes = await api.call("GET", "/api/v1/nodes");
    expect(nodes.body.items).toHaveLength(1);
    expect(nodes.body.items[0]).toMatchObject({ runtime: "fake", healthy: true });
    const ready = await api.call("GET", "/readyz");
    expect(ready.body.checks.agent).toEqual({ ok: true });
  });

  it("lets members act only on their own boxes and viewers only read", async () => {
    const bob = await api.createUser("bob");
    const vera = await api.createUser("vera");
    await api.call("PUT", "/api/v1/orgs/acme/members/bob", { token: alice, body: { role: "member" } });
    await api.call("PUT", "/api/v1/orgs/acme/members/vera", { token: alice, body: { role: "viewer" } });
    const own = await api.call("POST", base, { token: bob, body: { name: "bobs", template: "busybox" } });
    expect(own.status).toBe(202);
    expect((await api.call("POST", `${base}/bobs/stop`, { token: bob })).status).toBe(202);
    const other = await api.call("POST", `${base}/secret/stop`, { token: bob });
    expect(other.status).toBe(403);
    expect((await api.call("DELETE", `${base}/secret`, { token: bob })).status).toBe(403);
    expect((await api.call("GET", `${base}/secret`, { token: vera })).status).toBe(200);
    expect(
      (await api.call("POST", base, { token: vera, body: { name: "v1", template: "busybox" } })).status,
    ).toBe(403);
    // The org's owner may act on any box.
    expect((await api.call("POST", `${base}/bobs/start`, { token: alice })).status).toBe(202);
  });

  it("exports lifecycle metrics", async () => {
    const res = await api.call("GET", "/metrics");
    expect(res.status).toBe(200);
    for (const name of [
      "boxyard_box_transient_state_seconds_bucket",
      "boxyard_reconcile_queue_depth",
      "boxyard_reconcile_queue_lag_seconds",
      'boxyard_boxes{state="running"}',
    ]) {
      expect(res.body, name).toContain(name);
    }
    expect(res.body).toMatch(
      /boxyard_box_transient_state_seconds_count\{state="provisioning",template="busybox"\} [1-9]/,
    );
  });
});

describe("exec with waitSeconds: a box asked to run is waited for", () => {
  /** A running box, hot-paused, then resumed with its resume held at the runtime until released. */
  async function resumingBox(name: string) {
    expect((await api.call("POST", base, { token: alice, body: { name, template: "busybox" } })).status).toBe(
      202,
    );
    await waitState(name, "running");
    expect((await api.call("POST", `${base}/${name}/pause`, { token: alice })).status).toBe(202);
    await waitState(name, "paused");
    runtime.hold();
    expect((await api.call("POST", `${base}/${name}/resume`, { token: alice })).status).toBe(202);
    await waitFor(async () => (await box(name)).actualState === "resuming", {
      message: `${name} to be resuming`,
    });
  }
  const exec = (name: string, body: Record<string, unknown>) =>
    api.call("POST", `${base}/${name}/exec`, { token: alice, body: { command: ["echo", "hi"], ...body } });

  it("answers once the resume lands, not before; without waitSeconds it fails at once", async () => {
    await resumingBox("w1");
    try {
      const now = await exec("w1", {});
      expect(now.status).toBe(409);
      expect(now.body.code).toBe("box_not_running");
      expect(now.body.detail).toContain("resuming");
      let answered = false;
      const waiting = exec("w1", { waitSeconds: 30 }).finally(() => {
        answered = true;
      });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(answered).toBe(false);
      runtime.release();
      const r = await waiting;
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ exitCode: 0, stdout: "hi\n" });
      // The node ran it as soon as it had the box up; the control plane hears of it right after.
      await waitState("w1", "running");
    } finally {
      runtime.release();
    }
  });

  it("gives up with box_not_running when the box does not run in time, or is asked to stop", async () => {
    await resumingBox("w2");
    try {
      const t0 = Date.now();
      const late = await exec("w2", { waitSeconds: 1 });
      expect(late.status).toBe(409);
      expect(late.body.code).toBe("box_not_running");
      expect(late.body.detail).toContain("not running within 1 s");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      // A stop asked for while an exec waits ends the wait with what the box was asked to be.
      const waiting = exec("w2", { waitSeconds: 30 });
      await new Promise((r) => setTimeout(r, 200));
      expect((await api.call("POST", `${base}/w2/stop`, { token: alice })).status).toBe(202);
      const stopped = await waiting;
      expect(stopped.status).toBe(409);
      expect(stopped.body.code).toBe("box_not_running");
      expect(stopped.body.detail).toContain("asked to be stopped");
    } finally {
      runtime.release();
    }
    await waitState("w2", "stopped");
    // A box at rest is not waited for: nothing is on its way.
    const rest = await exec("w2", { waitSeconds: 30 });
    expect(rest.status).toBe(409);
    expect(rest.body.code).toBe("box_not_running");
  });

  it("C1: refuses a waitSeconds outside 0-600 or not an integer, and runs nothing", async () => {
    for (const waitSeconds of [-1, 601, 1.5, "5"]) {
      const r = await exec("w2", { waitSeconds });
      expect(r.status, String(waitSeconds)).toBe(400);
      expect(r.body.code).toBe("validation_failed");
      expect(r.body.errors[0].path).toBe("waitSeconds");
    }
  });
});
