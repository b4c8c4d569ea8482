// Pause is hot first (frozen, RAM kept on the node) and demoted to a cold
// pause (checkpointed to disk, compute released) after a configurable time;
// resume works from either, and the owner sees "paused" throughout.
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
      lifecycle: { agent: { ...FAST_LIFECYCLE.agent, coldPauseAfterMs: 3_600_000 } },
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
    expect((await slow.call("GET", `${b}/now`, { token: t })).body.actualState).toBe("paused");
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

  it("rejects an unknown pause mode and changes nothing (C2)", async () => {
    await slow.call("POST", b, { token: t, body: { name: "odd", template: "busybox" } });
    await settledOn("odd", "running");
    const res = await slow.call("POST", `${b}/odd/pause`, { token: t, body: { mode: "lukewarm" } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect((await slow.call("GET", `${b}/odd`, { token: t })).body.desiredState).toBe("running");
  });
});
