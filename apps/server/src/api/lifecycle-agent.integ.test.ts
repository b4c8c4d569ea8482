// The node agent against a real control plane: re-adoption after a restart
// and keeping boxes through control-plane errors (D1), and how runtime
// failures surface (transient: retried with backoff; permanent: failed).

import type { ControlPlaneLink } from "@boxyard/agent-protocol";
import type { NodeAgent } from "@boxyard/agent";
import {
  type BoxObservation,
  type BoxSpec,
  FakeRuntime,
  ImageLayerMissingError,
  RuntimeUnavailableError,
} from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

let h: LifecycleHarness;
beforeEach(async () => {
  h = await LifecycleHarness.start();
});
afterEach(async () => h?.close());

/** Passes through to the real link, but fetchDesired fails while `down` is set. */
function flakyLink(inner: ControlPlaneLink) {
  const state = { down: true, failedFetches: 0 };
  const link: ControlPlaneLink = {
    register: (reg, commands) => inner.register(reg, commands),
    heartbeat: (id, hb) => inner.heartbeat(id, hb),
    report: (id, r) => inner.report(id, r),
    async fetchDesired(id, since, opts) {
      if (state.down) {
        state.failedFetches++;
        throw Object.assign(new Error("control plane unreachable"), { code: "ECONNREFUSED" });
      }
      return inner.fetchDesired(id, since, opts);
    },
  };
  return { link, state };
}

describe("agent restart (D1)", () => {
  it("re-adopts running boxes without restarting them, and keeps them through fetch errors", async () => {
    h.startReconciler();
    const first = h.startAgent();
    const a = await h.create("keep1");
    const b = await h.create("keep2");
    await h.settled(a.id, "running");
    // Running first, so the node holds b when it stops (a stop that lands before the node
    // made the box leaves it unmade, and the node would hold one box: about one run in seven).
    await h.settled(b.id, "running");
    await h.verb(b.id, "stop");
    await h.settled(b.id, "stopped");
    const pidBefore = h.nodeState.boxes.get(a.id)?.sandboxPid;
    await first.stop();
    h.agents.splice(0, 1);

    // A new agent whose control plane is unreachable: nothing is destroyed or restarted.
    const flaky = flakyLink(h.link);
    const second = h.startAgent({ link: flaky.link });
    await waitFor(() => flaky.state.failedFetches >= 3, { message: "three failed fetches" });
    expect(h.nodeState.boxes.size).toBe(2);
    expect(h.nodeState.boxes.get(a.id)?.phase).toBe("running");

    flaky.state.down = false;
    await waitFor(() => second.readiness().ok, { message: "the agent to be ready" });
    await h.verb(b.id, "start");
    await h.settled(b.id, "running");
    await h.settled(a.id, "running");
    expect(h.nodeState.boxes.get(a.id)?.sandboxPid).toBe(pidBefore);
    expect(h.nodeState.boxes.size).toBe(2);
  });

  it("destroys a box only when a fetched desired set no longer lists it", async () => {
    h.startReconciler();
    h.startAgent();
    // An orphan a crashed agent left behind, unknown to the control plane.
    await new FakeRuntime({ state: h.nodeState }).prepare({
      id: "box_orphan0000000000000000".slice(0, 24),
      hostname: "orphan",
      layers: [],
      resources: { cpu: 1, memoryMiB: 128, diskGiB: 1 },
      network: { egress: "deny-all" },
    });
    const { id } = await h.create("wanted");
    await h.settled(id, "running");
    await waitFor(() => h.nodeState.boxes.size === 1, { message: "the orphan to be collected" });
    expect([...h.nodeState.boxes.keys()]).toEqual([id]);
  });
});

describe("an exec sent with the create (waitMs)", () => {
  /** `echo hi` in the box through the agent, waiting up to waitMs for it to run at `generation`. */
  const echoHi = (agent: NodeAgent, boxId: string, generation: number, waitMs: number) =>
    agent.exec({
      boxId,
      command: ["echo", "hi"],
      timeoutMs: 5_000,
      maxOutputBytes: 1024,
      waitMs,
      generation,
    });

  it("waits for a box the node has not made yet and runs once it is up", async () => {
    h.startReconciler();
    const agent = h.startAgent();
    const box = await h.create("waitnew");
    // Sent before the node has the box (the API sends it once the box is placed): waited for, not refused.
    expect(h.nodeState.boxes.has(box.id)).toBe(false);
    const r = await echoHi(agent, box.id, box.generation, 10_000);
    expect(r).toMatchObject({ exitCode: 0, stdout: "hi\n" });
    expect(h.nodeState.boxes.get(box.id)?.phase).toBe("running");
  });

  it("is not refused by what the runtime shows of a box mid-prepare (a half-made box looks failed)", async () => {
    /** The gVisor driver's view of a prepare under way: its record is there, the box is not. */
    class SlowPrepare extends FakeRuntime {
      held: (() => void) | undefined;
      preparing = new Set<string>();
      override async prepare(spec: BoxSpec): Promise<BoxObservation> {
        this.preparing.add(spec.id);
        await new Promise<void>((r) => {
          this.held = r;
        });
        this.preparing.delete(spec.id);
        return super.prepare(spec);
      }
      override async inspect(id: string): Promise<BoxObservation | null> {
        if (this.preparing.has(id)) return { id, phase: "failed", reason: "prepare did not finish" };
        return super.inspect(id);
      }
    }
    const runtime = new SlowPrepare({ state: h.nodeState });
    h.startReconciler();
    const agent = h.startAgent({ runtime });
    const box = await h.create("midprep");
    await waitFor(() => runtime.held !== undefined, { message: "the prepare to begin" });
    const answer = echoHi(agent, box.id, box.generation, 10_000);
    try {
      let settledEarly = false;
      answer.then(
        () => (settledEarly = true),
        () => (settledEarly = true),
      );
      await new Promise((r) => setTimeout(r, 1_200));
      expect(settledEarly).toBe(false);
    } finally {
      runtime.held?.();
    }
    expect(await answer).toMatchObject({ exitCode: 0, stdout: "hi\n" });
  });

  it("refuses a box the node does not hold once a set fetched after the request lacks it", async () => {
    h.startReconciler();
    const agent = h.startAgent();
    await h.settled((await h.create("other")).id, "running");
    const t0 = Date.now();
    await expect(echoHi(agent, "box_notonthisnode0000000", 1, 30_000)).rejects.toMatchObject({
      code: "invalid_box_state",
      message: "the box is not on this node",
    });
    // Refused at the node's next fetch, not at the deadline.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe("runtime failures", () => {
  it("retries a transient failure with backoff, showing lastError, then runs", async () => {
    /** start fails until the test heals it, like a runsc that is briefly unavailable. */
    class BrokenStart extends FakeRuntime {
      broken = true;
      override async start(id: string) {
        if (this.broken) throw new RuntimeUnavailableError("runsc is not answering");
        return super.start(id);
      }
    }
    const runtime = new BrokenStart({ state: h.nodeState });
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("flaky");
    const retrying = await waitFor(
      async () => {
        const b = await h.box(id);
        return (b.last_error?.attempts ?? 0) >= 3 ? b : null;
      },
      { message: "several recorded attempts" },
    );
    expect(retrying.actual_state).toBe("starting");
    expect(retrying.last_error).toMatchObject({ code: "runtime_unavailable", permanent: false });
    runtime.broken = false;
    const b = await h.settled(id, "running");
    expect(b.last_error).toBeNull();
    expect(b.attempts).toBe(0);
    const { rows } = await h.pool.query(`SELECT status FROM operations WHERE box_id = $1`, [id]);
    expect(rows).toEqual([{ status: "succeeded" }]);
  });

  it("a layer gone from the cache between resolve and prepare (layer GC): resolved again, the box runs", async () => {
    const runtime = new FakeRuntime({ state: h.nodeState });
    runtime.failNext("prepare", new ImageLayerMissingError("sha256:collected"));
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("retried");
    const running = await h.settled(id, "running");
    expect(running.last_error).toBeNull();
    expect(running.attempts).toBe(0);
  });

  it("shows a permanent failure with its reason; start of the failed box works", async () => {
    const runtime = new FakeRuntime({ state: h.nodeState });
    // Missing again after the agent's one fresh resolve: permanent.
    runtime.failNext("prepare", new ImageLayerMissingError("sha256:gone"));
    runtime.failNext("prepare", new ImageLayerMissingError("sha256:gone"));
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("broken");
    const failed = await h.settled(id, "failed");
    expect(failed.last_error).toMatchObject({ code: "image_layer_missing", permanent: true });
    expect(failed.last_error?.message).toMatch(/sha256:gone/);
    const { rows } = await h.pool.query(`SELECT status, error FROM operations WHERE box_id = $1`, [id]);
    expect(rows).toEqual([
      { status: "failed", error: expect.objectContaining({ code: "image_layer_missing" }) },
    ]);

    await h.verb(id, "start");
    const running = await h.settled(id, "running");
    expect(running.last_error).toBeNull();
  });

  it("deletes a failed box", async () => {
    const runtime = new FakeRuntime({ state: h.nodeState });
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("doomed");
    await h.settled(id, "running");
    runtime.crash(id, "init was OOM-killed");
    // The agent notices on its next pass (long poll timeout) and reports the crash.
    const failed = await h.settled(id, "failed");
    expect(failed.last_error).toMatchObject({
      code: "sandbox_failed",
      message: "init was OOM-killed",
      permanent: true,
    });
    await h.verb(id, "delete");
    await h.settled(id, "deleted");
    expect(h.nodeState.boxes.size).toBe(0);
  });

  it("keeps a box scheduling with no_capacity while no node fits, then places it", async () => {
    h.startReconciler();
    const { id } = await h.create("waiting");
    const b = await waitFor(
      async () => {
        const row = await h.box(id);
        return row.actual_state === "scheduling" &&
          row.last_error?.code === "no_capacity" &&
          row.attempts >= 2
          ? row
          : null;
      },
      { message: "a retried no_capacity" },
    );
    expect(b.last_error?.permanent).toBe(false);
    h.startAgent();
    await h.settled(id, "running");
  });
});
