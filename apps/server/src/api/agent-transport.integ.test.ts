// A node agent in "another process": it talks to the control plane only
// through the HTTP agent routes, with its own node token.

import { NodeAgent, StaticImageResolver } from "@boxyard/agent";
import { HttpControlPlaneLink, type NodeCommand } from "@boxyard/agent-protocol";
import { systemClock } from "@boxyard/platform";
import { waitFor } from "@boxyard/testkit";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, GatedRuntime, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let remote: NodeAgent;
const remoteRuntime = new GatedRuntime();
/** Every command the remote agent fetched, as it received it. */
const fetched: NodeCommand[] = [];

beforeAll(async () => {
  api = await startBoxTestApi();
  // The org is made directly in the database so this test exercises only the agent transport.
  const me = await api.call("GET", "/api/v1/users/me");
  await api.server.pool.query(`INSERT INTO orgs (id, name) VALUES ('org_remote00000000000000', 'remote')`);
  await api.server.pool.query(
    `INSERT INTO org_members (org_id, user_id, role) VALUES ('org_remote00000000000000', $1, 'owner')`,
    [me.body.id],
  );
  const link = new HttpControlPlaneLink({ baseUrl: api.url, registrationToken: api.adminToken });
  const fetchCommands = link.fetchCommands.bind(link);
  link.fetchCommands = async (...a) => {
    const got = await fetchCommands(...a);
    fetched.push(...got);
    return got;
  };
  remote = new NodeAgent({
    runtime: remoteRuntime,
    images: new StaticImageResolver(),
    link,
    nodeName: "remote-1",
    clock: systemClock,
    logger: pino({ level: "silent" }),
    // More free memory than the in-process node, so the scheduler prefers it.
    capacity: { cpu: 64, memoryMiB: 1_000_000, diskGiB: 4096, gpus: 0 },
    heartbeatMs: 200,
    longPollMs: 300,
    retry: { baseMs: 20, capMs: 200 },
  });
  await remote.start();
});
afterAll(async () => {
  await remote?.stop();
  await api?.close();
});

describe("HTTP agent transport", () => {
  it("runs a box on a remote node through register, long-poll, reports and heartbeats", async () => {
    await waitFor(() => remote.readiness().ok, { message: "the remote agent to register" });
    const created = await api.call("POST", "/api/v1/orgs/remote/boxes", {
      body: { name: "far", template: "busybox" },
    });
    expect(created.status).toBe(202);
    const box = await waitFor(async () => {
      const b = (await api.call("GET", "/api/v1/orgs/remote/boxes/far")).body;
      return b.actualState === "running" ? b : null;
    });
    expect(box.node).toBe("remote-1");
    expect(remoteRuntime.state.boxes.get(box.id)?.phase).toBe("running");
    expect(api.runtime.state.boxes.size).toBe(0);

    // exec reaches the remote agent through its command poll and comes back with the output.
    const ran = await api.call("POST", "/api/v1/orgs/remote/boxes/far/exec", {
      body: { command: ["sh", "-c", "echo out; echo err >&2"] },
    });
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body).toMatchObject({ exitCode: 0, stdout: "out\n", stderr: "err\n" });
    const failed = await api.call("POST", "/api/v1/orgs/remote/boxes/far/exec", {
      body: { command: ["sh", "-c", "exit 7"] },
    });
    expect(failed.body.exitCode).toBe(7);
    // An exec sent with the resume (waitSeconds) waits on the remote node for the box to run: the
    // node gets it at once, with the wait. An agent from before waitMs (its registered version)
    // would refuse such a request: for one, the control plane waits and sends a plain exec.
    for (const [version, onNode] of [
      ["0.2.0", true],
      ["0.1.0", false],
    ] as const) {
      await api.server.pool.query("UPDATE nodes SET agent_version = $1 WHERE name = 'remote-1'", [version]);
      expect((await api.call("POST", "/api/v1/orgs/remote/boxes/far/pause")).status).toBe(202);
      await waitFor(
        async () => (await api.call("GET", "/api/v1/orgs/remote/boxes/far")).body.actualState === "paused",
      );
      remoteRuntime.hold();
      try {
        expect((await api.call("POST", "/api/v1/orgs/remote/boxes/far/resume")).status).toBe(202);
        const before = fetched.length;
        const waiting = api.call("POST", "/api/v1/orgs/remote/boxes/far/exec", {
          body: { command: ["echo", version], waitSeconds: 30 },
        });
        if (onNode)
          await waitFor(() => fetched.slice(before).some((c) => c.request.waitMs), {
            message: "the waiting exec to reach the node",
          });
        else {
          await new Promise((r) => setTimeout(r, 700));
          expect(fetched.length, "nothing sent while the box is not running").toBe(before);
        }
        remoteRuntime.release();
        const waited = await waiting;
        expect(waited.status, JSON.stringify(waited.body)).toBe(200);
        expect(waited.body).toMatchObject({ exitCode: 0, stdout: `${version}\n` });
        const sent = fetched.slice(before).find((c) => c.request.command[1] === version);
        expect(sent?.request.waitMs !== undefined, version).toBe(onNode);
      } finally {
        remoteRuntime.release();
      }
    }
    // Nothing stays queued once the call is answered.
    expect((await api.server.pool.query("SELECT count(*)::int AS n FROM node_commands")).rows[0].n).toBe(0);

    await api.call("DELETE", "/api/v1/orgs/remote/boxes/far");
    await waitFor(() => !remoteRuntime.state.boxes.has(box.id), {
      message: "the remote box to be destroyed",
    });
    const nodes = (await api.call("GET", "/api/v1/nodes")).body.items;
    expect(nodes.find((n: { name: string }) => n.name === "remote-1")).toMatchObject({
      healthy: true,
      runtime: "fake",
    });
  });

  it("rejects agent calls without the node's token, and registration without a site admin token", async () => {
    const nodeId = remote.registeredNodeId!;
    const res = await fetch(`${api.url}/api/v1/agent/nodes/${nodeId}/desired`, {
      headers: { "x-boxyard-node-token": "byn_wrong" },
    });
    expect(res.status).toBe(401);
    const noHeader = await fetch(`${api.url}/api/v1/agent/nodes/${nodeId}/reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reports: [] }),
    });
    expect(noHeader.status).toBe(401);
    const reg = await fetch(`${api.url}/api/v1/agent/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "x",
        runtime: "fake",
        capacity: { cpu: 1, memoryMiB: 1, diskGiB: 1, gpus: 0 },
        agentVersion: "t",
      }),
    });
    expect(reg.status).toBe(401);
  });

  it("hands a remote node the secrets of its box (node token), and no one else", async () => {
    const value = `remote-canary-${Date.now()}`;
    expect(
      (await api.call("POST", "/api/v1/orgs/remote/secrets", { body: { name: "TOKEN", value } })).status,
    ).toBe(200);
    await api.call("POST", "/api/v1/orgs/remote/templates", {
      body: { name: "sec", spec: { image: { base: "busybox" }, secrets: ["TOKEN"] } },
    });
    await api.call("POST", "/api/v1/orgs/remote/boxes", { body: { name: "sec", template: "sec" } });
    const box = await waitFor(async () => {
      const b = (await api.call("GET", "/api/v1/orgs/remote/boxes/sec")).body;
      return b.actualState === "running" ? b : null;
    });
    expect(box.node).toBe("remote-1");
    await waitFor(
      async () => remoteRuntime.state.boxes.get(box.id)?.files.get("/run/boxyard/secrets/TOKEN") === value,
      { message: "the secret on the remote node's box" },
    );
    // Without the node's token: the same 401 as every agent route.
    const res = await fetch(
      `${api.url}/api/v1/agent/nodes/${remote.registeredNodeId}/boxes/${box.id}/secrets`,
      {
        method: "POST",
        headers: { "x-boxyard-node-token": "byn_wrong" },
      },
    );
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain(value);
  });
});
