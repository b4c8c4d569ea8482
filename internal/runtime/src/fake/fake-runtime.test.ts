import { describe, expect, it } from "vitest";
import { describeRuntimeConformance } from "../conformance.ts";
import type { BoxSpec } from "../runtime.ts";
import { FakeNodeState, FakeRuntime } from "./fake-runtime.ts";

const spec = (id: string): BoxSpec => ({
  id,
  hostname: "box",
  layers: ["sha256:fake"],
  resources: { cpu: 1, memoryMiB: 256, diskGiB: 1 },
  network: { egress: "deny-all" },
});

describeRuntimeConformance(
  "fake",
  async () => {
    const state = new FakeNodeState();
    return {
      newRuntime: () => new FakeRuntime({ state }),
      spec,
      async assertNoLeaks() {
        expect([...state.boxes.keys()]).toEqual([]);
      },
    };
  },
  { skip: { "pty-restore": "the fake runs no shell, so a pty session cannot start a job" } },
);

describe("FakeRuntime failure injection", () => {
  it("failNext makes exactly the next call of that method throw", async () => {
    const rt = new FakeRuntime();
    rt.failNext("start", new Error("disk on fire"));
    await rt.prepare(spec("f1"));
    await expect(rt.start("f1")).rejects.toThrow("disk on fire");
    expect((await rt.start("f1")).phase).toBe("running");
    rt.failNext("exec");
    await expect(rt.exec("f1", { command: ["true"] })).rejects.toMatchObject({ code: "injected_failure" });
  });

  it("crash turns a running box into failed with a reason; start recovers it", async () => {
    const rt = new FakeRuntime();
    await rt.prepare(spec("f2"));
    await rt.start("f2");
    rt.crash("f2", "sandbox killed by OOM");
    expect(await rt.inspect("f2")).toMatchObject({ phase: "failed", reason: "sandbox killed by OOM" });
    expect((await rt.start("f2")).phase).toBe("running");
  });

  it("refuses boxes beyond the node's limits", async () => {
    const rt = new FakeRuntime({ limits: { memoryMiB: 128 } });
    await expect(rt.prepare(spec("f3"))).rejects.toMatchObject({ code: "resources_exceed_limits" });
  });
});
