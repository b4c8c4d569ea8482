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
