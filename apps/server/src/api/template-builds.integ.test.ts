// Template image builds (issue 7): a push queues a build that a node's agent
// claims, builds and reports (status, log, layers); a rebuild of the same
// image is a cache hit; a failed build keeps its log and makes the version
// refuse new boxes (C4: refused at admission, no box row, no node work); the
// log can be read from an offset or followed as SSE until the build ends;
// the agent protocol works in process and over HTTP with a node token, and a
// build whose node stopped reporting is taken over.

import { NodeAgent } from "@boxyard/agent";
import { HttpControlPlaneLink } from "@boxyard/agent-protocol";
import { BUILD_LOG_LIMIT, claimTemplateBuild, readTemplateBuildLog, updateTemplateBuild } from "@boxyard/db";
import { systemClock } from "@boxyard/platform";
import { FakeRuntime } from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScriptedImages } from "../testing/scripted-images.ts";
import { type BoxTestApi, FAST_LIFECYCLE, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
const images = new ScriptedImages();
const org = "/api/v1/orgs/acme";

async function push(name: string, spec: unknown) {
  const res = await api.call("POST", `${org}/templates`, { token: owner, body: { name, spec } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { name: string; version: number; buildStatus: string };
}

async function buildOf(name: string, version: number) {
  return (await api.call("GET", `${org}/templates/${name}/versions/${version}/build`, { token: owner })).body;
}

async function settled(name: string, version: number) {
  return waitFor(
    async () => {
      const b = await buildOf(name, version);
      return b.status === "ready" || b.status === "failed" ? b : undefined;
    },
    { timeoutMs: 10_000, message: `build of ${name}@${version}` },
  );
}

async function logText(name: string, version: number, query = ""): Promise<string> {
  const res = await fetch(`${api.url}${org}/templates/${name}/versions/${version}/build/logs${query}`, {
    headers: { authorization: `Bearer ${owner}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  api = await startBoxTestApi({
    lifecycle: { agent: { ...FAST_LIFECYCLE.agent, images } },
  });
  owner = await api.createUser("olive");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
});
afterAll(async () => api?.close());

describe("template builds", () => {
  it("build a pushed version on the node and report status, timings, layers and log", async () => {
    const v = await push("py", { image: { base: "debian-bookworm", packages: ["git", "python3"] } });
    expect(v.buildStatus).toBe("queued");
    const b = await settled("py", 1);
    expect(b).toMatchObject({
      name: "py",
      version: 1,
      status: "ready",
      cacheHit: false,
      error: null,
      attempts: 1,
    });
    expect(b.layers).toHaveLength(1);
    expect(b.layers[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.node).toBeTruthy();
    expect(Date.parse(b.finishedAt)).toBeGreaterThanOrEqual(Date.parse(b.startedAt));
    expect(b.elapsedSeconds).toBeGreaterThanOrEqual(0);
    const log = await logText("py", 1);
    expect(log).toContain("I: installing git python3");
    expect(log).toContain("I: success");
    expect(log.length).toBe(b.logSize);
    // The version lists show the build's status.
    const versions = await api.call("GET", `${org}/templates/py/versions`, { token: owner });
    expect(versions.body.items[0].buildStatus).toBe("ready");
  });

  it("call a rebuild of an identical image a cache hit and say so in the log", async () => {
    const before = images.builds;
    await push("py-again", { image: { base: "debian-bookworm", packages: ["python3", "git"] } });
    const b = await settled("py-again", 1);
    expect(b).toMatchObject({ status: "ready", cacheHit: true });
    expect(b.layers).toEqual((await buildOf("py", 1)).layers);
    expect(images.builds).toBe(before);
    expect(await logText("py-again", 1)).toContain("cache hit");
  });

  it("mark a failed build with its reason and log, and refuse boxes from that version only", async () => {
    await push("broken", { image: { base: "debian-bookworm", packages: ["no-such-package"] } });
    const b = await settled("broken", 1);
    expect(b.status).toBe("failed");
    expect(b.layers).toEqual([]);
    expect(b.error).toContain("Unable to locate package no-such-package");
    expect(await logText("broken", 1)).toContain("E: Unable to locate package no-such-package");
    const boxesBefore = await api.server.pool.query("SELECT count(*)::int AS n FROM boxes");
    const res = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "b1", template: "broken" },
    });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("template_build_failed");
    expect(res.body.detail).toContain("no-such-package");
    expect(res.body.detail).toContain("boxyard templates build broken@1 --logs");
    const boxesAfter = await api.server.pool.query("SELECT count(*)::int AS n FROM boxes");
    expect(boxesAfter.rows[0].n).toBe(boxesBefore.rows[0].n);
    // A fixed version builds and makes boxes; the failed one stays failed.
    await push("broken", { image: { base: "debian-bookworm", packages: ["git"] } });
    expect((await settled("broken", 2)).status).toBe("ready");
    const ok = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "b2", template: "broken" },
    });
    expect(ok.status).toBe(202);
    expect(ok.body.box.templateVersion).toBe(2);
    const pinned = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "b3", template: "broken", templateVersion: 1 },
    });
    expect(pinned.body.code).toBe("template_build_failed");
  });

  it("queue a failed build again on request, and refuse to retry one that did not fail", async () => {
    await push("flaky", { image: { base: "debian-bookworm", packages: ["flaky"] } });
    const failed = await settled("flaky", 1);
    expect(failed.error).toContain("Temporary failure resolving");
    const member = await api.createUser("mel");
    await api.call("PUT", `${org}/members/mel`, { token: owner, body: { role: "member" } });
    expect(
      (await api.call("POST", `${org}/templates/flaky/versions/1/build`, { token: member })).status,
    ).toBe(403);
    const retried = await api.call("POST", `${org}/templates/flaky/versions/1/build`, { token: owner });
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ status: "queued", error: null, layers: [] });
    const ready = await settled("flaky", 1);
    expect(ready).toMatchObject({ status: "ready", attempts: 2 });
    const log = await logText("flaky", 1);
    expect(log).toContain("Temporary failure resolving");
    expect(log).toContain("--- build queued again by olive ---");
    expect(log.indexOf("queued again")).toBeLessThan(log.lastIndexOf("I: success"));
    const again = await api.call("POST", `${org}/templates/flaky/versions/1/build`, { token: owner });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain("only a failed build is retried");
    const box = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "f1", template: "flaky" },
    });
    expect(box.status).toBe(202);
    const audit = await api.call("GET", `${org}/audit?action=template.build.retry`, { token: owner });
    expect(audit.body.items).toHaveLength(1);
  });

  it("let a box be created while its version still builds, and follow the log as SSE until the end", async () => {
    images.hold();
    await push("slowpoke", { image: { base: "debian-bookworm", packages: ["slow"] } });
    await waitFor(async () => (await buildOf("slowpoke", 1)).status === "building", {
      timeoutMs: 10_000,
      message: "build started",
    });
    const box = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "early", template: "slowpoke" },
    });
    expect(box.status).toBe(202);
    const res = await fetch(`${api.url}${org}/templates/slowpoke/versions/1/build/logs?follow=1`, {
      headers: { authorization: `Bearer ${owner}` },
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await readUntil("I: installing slow");
    expect(text).not.toContain("event: end");
    images.release();
    await readUntil("event: end");
    expect(text).toContain("I: success");
    const end = JSON.parse(text.split("event: end\ndata: ")[1]!.split("\n")[0]!);
    expect(end).toMatchObject({ status: "ready", name: "slowpoke", version: 1 });
    // The stream ends by itself after `end`.
    for (;;) if ((await reader.read()).done) break;
    await waitFor(
      async () =>
        (await api.call("GET", `${org}/boxes/early`, { token: owner })).body.actualState === "running",
      { timeoutMs: 10_000, message: "box from the built version running" },
    );
  });

  it("serve the log from an offset up to an end", async () => {
    const all = await logText("py", 1);
    expect(await logText("py", 1, "?offset=5")).toBe(all.slice(5));
    expect(await logText("py", 1, "?offset=5&end=20")).toBe(all.slice(5, 20));
    expect(await logText("py", 1, `?offset=${all.length}`)).toBe("");
  });

  it("answer 404 for a version that does not exist and for another org's template", async () => {
    expect((await api.call("GET", `${org}/templates/py/versions/9/build`, { token: owner })).status).toBe(
      404,
    );
    const mallory = await api.createUser("mallory");
    await api.call("POST", "/api/v1/orgs", { token: mallory, body: { name: "evil" } });
    const res = await api.call("GET", `${org}/templates/py/versions/1/build`, { token: mallory });
    expect(res.status).toBe(404);
  });
});

describe("build protocol", () => {
  beforeAll(async () => {
    // From here on builds are claimed by hand or by a remote agent, not by the in-process one.
    await api.server.lifecycle.agent!.stop();
    // A node that never runs: it claims builds in these tests and then goes silent.
    await api.server.pool.query(
      `INSERT INTO nodes (id, name, runtime, capacity, labels, cached_images, agent_version)
       VALUES ('node_zzzzzzzzzzzzzzzzzzzz', 'phantom', 'fake', '{"cpu":1,"memoryMiB":1,"diskGiB":1,"gpus":0}', '{}', '[]', 'x')`,
    );
  });

  it("keep only the last 1 MiB of log, while offsets count everything written", async () => {
    const pool = api.server.pool;
    {
      await push("chatty", { image: { base: "busybox" } });
      const claimed = await claimTemplateBuild(pool, {
        nodeId: "node_zzzzzzzzzzzzzzzzzzzz",
        leaseMs: 60_000,
      });
      expect(claimed?.status).toBe("building");
      const chunk = `${"x".repeat(64 * 1024 - 1)}\n`;
      for (let i = 0; i < 21; i++)
        expect(
          await updateTemplateBuild(pool, {
            id: claimed!.id,
            nodeId: "node_zzzzzzzzzzzzzzzzzzzz",
            leaseMs: 60_000,
            log: i === 20 ? "the end\n" : chunk,
          }),
        ).toBe(true);
      const total = 20 * 64 * 1024 + "the end\n".length;
      const head = await readTemplateBuildLog(pool, { id: claimed!.id, offset: 0 });
      expect(head.size).toBe(total);
      expect(head.text.length).toBe(BUILD_LOG_LIMIT);
      expect(head.from).toBe(total - BUILD_LOG_LIMIT);
      expect(head.text.endsWith("the end\n")).toBe(true);
      // Another node's report is not accepted; the owner's final one is, once.
      expect(
        await updateTemplateBuild(pool, {
          id: claimed!.id,
          nodeId: "node_yyyyyyyyyyyyyyyyyyyy",
          leaseMs: 1,
          status: "ready",
        }),
      ).toBe(false);
      const done = {
        id: claimed!.id,
        nodeId: "node_zzzzzzzzzzzzzzzzzzzz",
        leaseMs: 1,
        status: "failed" as const,
        error: "x",
      };
      expect(await updateTemplateBuild(pool, done)).toBe(true);
      expect(await updateTemplateBuild(pool, done)).toBe(false);
    }
  });

  it("build over HTTP for an agent in another process, and take over a build whose node stopped reporting", async () => {
    const remoteImages = new ScriptedImages();
    const remote = new NodeAgent({
      runtime: new FakeRuntime(),
      images: remoteImages,
      link: new HttpControlPlaneLink({ baseUrl: api.url, registrationToken: api.adminToken }),
      nodeName: "remote-builder",
      clock: systemClock,
      logger: pino({ level: "silent" }),
      capacity: { cpu: 4, memoryMiB: 4096, diskGiB: 100, gpus: 0 },
      heartbeatMs: 200,
      longPollMs: 300,
      retry: { baseMs: 20, capMs: 200 },
    });
    try {
      // A build claimed by a node that then went silent: its lease runs out and the remote agent takes it over.
      await push("orphan", { image: { base: "debian-bookworm", packages: ["curl"] } });
      const stuck = await claimTemplateBuild(api.server.pool, {
        nodeId: "node_zzzzzzzzzzzzzzzzzzzz",
        leaseMs: 60_000,
      });
      expect(stuck?.version).toBe(1);
      await api.server.pool.query(
        "UPDATE template_builds SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        [stuck!.id],
      );
      await push("remote", { image: { base: "debian-bookworm", packages: ["no-such-package"] } });
      await remote.start();
      const orphan = await settled("orphan", 1);
      expect(orphan).toMatchObject({ status: "ready", node: "remote-builder", attempts: 2 });
      expect(await logText("orphan", 1)).toContain("(attempt 2)");
      const failed = await settled("remote", 1);
      expect(failed).toMatchObject({ status: "failed", node: "remote-builder" });
      expect(await logText("remote", 1)).toContain("E: Unable to locate package no-such-package");
      // The silent node's late report changes nothing.
      expect(
        await updateTemplateBuild(api.server.pool, {
          id: stuck!.id,
          nodeId: "node_zzzzzzzzzzzzzzzzzzzz",
          leaseMs: 1,
          status: "failed",
          error: "late",
        }),
      ).toBe(false);
      expect((await buildOf("orphan", 1)).status).toBe("ready");
      // The agent routes want the node's token.
      const anon = await fetch(`${api.url}/api/v1/agent/nodes/node_zzzzzzzzzzzzzzzzzzzz/builds/claim`, {
        method: "POST",
      });
      expect(anon.status).toBe(401);
    } finally {
      await remote.stop();
    }
  });
});
