// Pause is hot first (frozen, RAM kept on the node) and demoted to a cold
// pause (checkpointed to disk, compute released) after a configurable time;
// resume works from either, and the owner sees "paused" throughout.
import { CheckpointRefusedError } from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, FAST_LIFECYCLE, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let token: string;
const base = "/api/v1/orgs/cold/boxes";

beforeAll(async () => {
  api = await startBoxTestApi({ lifecycle: { agent: { ...FAST_LIFECYCLE.agent, coldPauseAfterMs: 300 } } });
  token = await api.createUser("carl");
  await api.call("POST", "/api/v1/orgs", { token, body: { name: "cold" } });
});
afterAll(async () => api?.close());

async function settled(name: string, state: string) {
  return waitFor(
    async () => {
      const b = (await api.call("GET", `${base}/${name}`, { token })).body;
      return b.actualState === state && b.observedGeneration === b.generation ? b : null;
    },
    { timeoutMs: 15_000, message: `${name} to be ${state}` },
  );
}

describe("cold pause", () => {
  it("checkpoints a box that stays paused, keeps it 'paused', and resumes it", async () => {
    const created = await api.call("POST", base, { token, body: { name: "sleepy", template: "busybox" } });
    const id = created.body.box.id as string;
    await settled("sleepy", "running");
    expect((await api.call("POST", `${base}/sleepy/pause`, { token })).status).toBe(202);
    await settled("sleepy", "paused");
    await waitFor(async () => (await api.runtime.inspect(id))?.phase === "checkpointed", {
      timeoutMs: 10_000,
      message: "the hot pause to be demoted to a cold one",
    });
    expect((await api.call("GET", `${base}/sleepy`, { token })).body.actualState).toBe("paused");
    expect((await api.call("POST", `${base}/sleepy/resume`, { token })).status).toBe(202);
    await settled("sleepy", "running");
    expect((await api.runtime.inspect(id))?.phase).toBe("running");
  });

  it("stops a cold-paused box", async () => {
    await api.call("POST", base, { token, body: { name: "frozen", template: "busybox" } });
    await settled("frozen", "running");
    await api.call("POST", `${base}/frozen/pause`, { token });
    const id = (await settled("frozen", "paused")).id as string;
    await waitFor(async () => (await api.runtime.inspect(id))?.phase === "checkpointed", {
      timeoutMs: 10_000,
    });
    await api.call("POST", `${base}/frozen/stop`, { token });
    await settled("frozen", "stopped");
  });
});

describe("cold pause on demand (pause --cold)", () => {
  let slow: BoxTestApi;
  let t: string;
  const b = "/api/v1/orgs/ondemand/boxes";
  beforeAll(async () => {
    // The node keeps boxes hot for an hour: only an explicit request checkpoints one.
    slow = await startBoxTestApi({
      lifecycle: { agent: { ...FAST_LIFECYCLE.agent, coldPauseAfterMs: 3_600_000, coldPauseRetryMs: 400 } },
    });
    t = await slow.createUser("olga");
    await slow.call("POST", "/api/v1/orgs", { token: t, body: { name: "ondemand" } });
  });
  afterAll(async () => slow?.close());

  async function settledOn(name: string, state: string) {
    return waitFor(
      async () => {
        const box = (await slow.call("GET", `${b}/${name}`, { token: t })).body;
        return box.actualState === state && box.observedGeneration === box.generation ? box : null;
      },
      { timeoutMs: 15_000, message: `${name} to be ${state}` },
    );
  }

  it("checkpoints at once when asked, and resumes", async () => {
    await slow.call("POST", b, { token: t, body: { name: "now", template: "busybox" } });
    const id = (await settledOn("now", "running")).id as string;
    const res = await slow.call("POST", `${b}/now/pause`, { token: t, body: { mode: "cold" } });
    expect(res.status).toBe(202);
    await waitFor(async () => (await slow.runtime.inspect(id))?.phase === "checkpointed", {
      timeoutMs: 10_000,
      message: "the cold pause",
    });
    // The node reports the pause and then the checkpoint; the box reads "paused" once the reports are in.
    expect((await settledOn("now", "paused")).actualState).toBe("paused");
    await slow.call("POST", `${b}/now/resume`, { token: t });
    await settledOn("now", "running");
    expect((await slow.runtime.inspect(id))?.phase).toBe("running");
  });

  it("demotes an already hot-paused box when asked again with --cold, and only then", async () => {
    await slow.call("POST", b, { token: t, body: { name: "later", template: "busybox" } });
    const id = (await settledOn("later", "running")).id as string;
    await slow.call("POST", `${b}/later/pause`, { token: t });
    await settledOn("later", "paused");
    await new Promise((r) => setTimeout(r, 500));
    expect((await slow.runtime.inspect(id))?.phase).toBe("paused");
    const again = await slow.call("POST", `${b}/later/pause`, { token: t, body: { mode: "cold" } });
    expect(again.status).toBe(202);
    await waitFor(async () => (await slow.runtime.inspect(id))?.phase === "checkpointed", {
      timeoutMs: 10_000,
      message: "the hot pause to be demoted on request",
    });
  });

  it("keeps a box hot-paused when the runtime refuses the cold pause, and tries again later", async () => {
    await slow.call("POST", b, { token: t, body: { name: "busy", template: "busybox" } });
    const id = (await settledOn("busy", "running")).id as string;
    // As the gVisor driver does while a sandbox cannot drop a TCP connection: the box is left as it was.
    for (let i = 0; i < 2; i++)
      slow.runtime.failNext(
        "checkpoint",
        new CheckpointRefusedError(id, "paused", "a TCP connection in TIME_WAIT"),
      );
    await slow.call("POST", `${b}/busy/pause`, { token: t, body: { mode: "cold" } });
    // The node tries again 400 ms, then 800 ms after a refusal (coldPauseRetryMs 400 here).
    const seen: Array<{ phase: string | undefined; at: number }> = [];
    await waitFor(
      async () => {
        const phase = slow.runtime.state.boxes.get(id)?.phase;
        seen.push({ phase, at: Date.now() });
        return phase === "checkpointed" ? true : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "the deferred cold pause" },
    );
    const paused = seen.filter((s) => s.phase === "paused");
    expect(paused.length).toBeGreaterThan(0);
    expect((paused.at(-1)?.at ?? 0) - (paused[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect(
      seen.slice(seen.indexOf(paused[0]!)).every((s) => s.phase === "paused" || s.phase === "checkpointed"),
    ).toBe(true);
    expect((await settledOn("busy", "paused")).actualState).toBe("paused");
    await slow.call("POST", `${b}/busy/resume`, { token: t });
    await settledOn("busy", "running");
  });

  it("rejects an unknown pause mode and changes nothing (C2)", async () => {
    await slow.call("POST", b, { token: t, body: { name: "odd", template: "busybox" } });
    await settledOn("odd", "running");
    const res = await slow.call("POST", `${b}/odd/pause`, { token: t, body: { mode: "lukewarm" } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect((await slow.call("GET", `${b}/odd`, { token: t })).body.desiredState).toBe("running");
  });
});

// Hot-paused boxes hold RAM; when the node runs short of it, they are the
// first to give it back: the longest-paused go to disk, only as many as the
// shortfall needs, and resume as usual.
describe("cold pause under memory pressure", () => {
  let node: BoxTestApi;
  let t: string;
  const b = "/api/v1/orgs/pressure/boxes";
  const MiB = 1024 * 1024;
  // The node's available memory, as the agent's probe reads it: a base, plus what each
  // box on disk gave back (a busybox box holds 256 MiB), as MemAvailable would rise.
  let base = 8192 * MiB;
  const available = () =>
    base +
    [...node.runtime.state.boxes.values()].filter((x) => x.phase === "checkpointed").length * 256 * MiB;
  beforeAll(async () => {
    node = await startBoxTestApi({
      lifecycle: {
        agent: {
          ...FAST_LIFECYCLE.agent,
          coldPauseAfterMs: 3_600_000,
          memoryPressure: { lowBytes: 1024 * MiB, availableBytes: async () => available() },
        },
      },
    });
    t = await node.createUser("petra");
    await node.call("POST", "/api/v1/orgs", { token: t, body: { name: "pressure" } });
  });
  afterAll(async () => node?.close());

  async function settledOn(name: string, state: string) {
    return waitFor(
      async () => {
        const box = (await node.call("GET", `${b}/${name}`, { token: t })).body;
        return box.actualState === state && box.observedGeneration === box.generation ? box : null;
      },
      { timeoutMs: 15_000, message: `${name} to be ${state}` },
    );
  }

  it("demotes the longest-paused hot boxes, as many as the shortfall needs, and they resume", async () => {
    const ids: Record<string, string> = {};
    for (const name of ["first", "second", "third"]) {
      await node.call("POST", b, { token: t, body: { name, template: "busybox" } });
      ids[name] = (await settledOn(name, "running")).id as string;
    }
    for (const name of ["first", "second", "third"]) {
      await node.call("POST", `${b}/${name}/pause`, { token: t });
      await settledOn(name, "paused");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Plenty of memory: all stay hot for a few heartbeats.
    await new Promise((r) => setTimeout(r, 700));
    for (const name of ["first", "second", "third"])
      expect((await node.runtime.inspect(ids[name]!))?.phase).toBe("paused");
    // 300 MiB short of the 1 GiB floor: two busybox boxes (256 MiB each) cover it.
    base = 724 * MiB;
    await waitFor(
      async () =>
        (await node.runtime.inspect(ids.first!))?.phase === "checkpointed" &&
        (await node.runtime.inspect(ids.second!))?.phase === "checkpointed",
      { timeoutMs: 10_000, intervalMs: 20, message: "the two longest-paused boxes to be demoted" },
    );
    // What they gave back covers the floor: the third stays hot.
    await new Promise((r) => setTimeout(r, 700));
    expect((await node.runtime.inspect(ids.third!))?.phase).toBe("paused");
    expect((await node.call("GET", `${b}/first`, { token: t })).body.actualState).toBe("paused");
    await node.call("POST", `${b}/first/resume`, { token: t });
    await settledOn("first", "running");
    expect((await node.runtime.inspect(ids.first!))?.phase).toBe("running");
  });
});
