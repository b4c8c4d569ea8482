// D2-style: two reconciler replicas (separate pools) on one database never
// act on one box at the same time, and every box converges. Also desired
// changes that land while a transition is in flight.

import type { BoxId, BoxObservation } from "@boxyard/runtime";
import { FakeRuntime } from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

let h: LifecycleHarness;
beforeEach(async () => {
  h = await LifecycleHarness.start();
});
afterEach(async () => h?.close());

/** A fake runtime whose start and pause wait until the test opens the gate. */
class GatedRuntime extends FakeRuntime {
  gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  entered = new Set<string>();

  close(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async start(id: BoxId): Promise<BoxObservation> {
    this.entered.add("start");
    await this.gate;
    return super.start(id);
  }

  override async pause(id: BoxId): Promise<BoxObservation> {
    this.entered.add("pause");
    await this.gate;
    return super.pause(id);
  }
}

describe("two reconcilers on one database (D2)", () => {
  it("never reconcile one box concurrently, and all boxes converge", async () => {
    const inFlight = new Map<string, number>();
    let maxOverlap = 0;
    const perInstance = [0, 0];
    const trace = (i: number) => ({
      begin(id: string) {
        const n = (inFlight.get(id) ?? 0) + 1;
        inFlight.set(id, n);
        maxOverlap = Math.max(maxOverlap, n);
        perInstance[i]!++;
      },
      end(id: string) {
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
      },
    });
    // Leases are renewed every leaseMs/3, but on this loaded 2-core machine the
    // harness's 300 ms lease (short so crash tests recover fast) can lapse
    // between renewals; a production-like lease shows the mutual exclusion.
    h.startReconciler({ separatePool: true, concurrency: 4, leaseMs: 10_000, trace: trace(0) });
    h.startReconciler({ separatePool: true, concurrency: 4, leaseMs: 10_000, trace: trace(1) });
    h.startAgent();
    const boxes = await Promise.all(Array.from({ length: 24 }, (_, i) => h.create(`b${i}`)));
    await Promise.all(boxes.map((b) => h.settled(b.id, "running", 20_000)));
    await Promise.all(boxes.map((b) => h.verb(b.id, "stop")));
    await Promise.all(boxes.map((b) => h.settled(b.id, "stopped", 20_000)));
    expect(maxOverlap).toBe(1);
    expect(perInstance[0]! + perInstance[1]!).toBeGreaterThan(24 * 3);
    expect(h.nodeState.boxes.size).toBe(24);
    expect([...h.nodeState.boxes.values()].every((b) => b.phase === "stopped")).toBe(true);
  });
});

describe("desired state changed while a transition is in flight", () => {
  it("stop during starting converges to stopped", async () => {
    const runtime = new GatedRuntime({ state: h.nodeState });
    runtime.close();
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("slow");
    try {
      await waitFor(() => runtime.entered.has("start"), { message: "the agent to be inside start" });
      await waitFor(async () => (await h.box(id)).actual_state === "starting", { message: "starting" });
      await h.verb(id, "stop");
    } finally {
      // Never leave the agent stuck inside start: closing the harness waits for it.
      runtime.release();
    }
    await h.settled(id, "stopped");
    expect(h.nodeState.boxes.get(id)?.phase).toBe("stopped");
    const { rows } = await h.pool.query(
      `SELECT kind, status, error FROM operations WHERE box_id = $1 ORDER BY created_at`,
      [id],
    );
    expect(rows).toEqual([
      { kind: "create", status: "failed", error: expect.objectContaining({ code: "superseded" }) },
      { kind: "stop", status: "succeeded", error: null },
    ]);
  });

  it("delete during pausing converges to deleted with nothing left on the node", async () => {
    const runtime = new GatedRuntime({ state: h.nodeState });
    h.startReconciler();
    h.startAgent({ runtime });
    const { id } = await h.create("slow2");
    await h.settled(id, "running");
    runtime.close();
    try {
      await h.verb(id, "pause");
      await waitFor(() => runtime.entered.has("pause"), { message: "the agent to be inside pause" });
      await waitFor(async () => (await h.box(id)).actual_state === "pausing", { message: "pausing" });
      await h.verb(id, "delete");
    } finally {
      runtime.release();
    }
    await h.settled(id, "deleted");
    expect(h.nodeState.boxes.size).toBe(0);
    expect(await h.pendingOperations(id)).toBe(0);
  });
});
