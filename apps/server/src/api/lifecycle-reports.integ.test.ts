// D5: duplicated, reordered and stale node reports. Here the test plays the
// node agent through the link, so it controls exactly which report arrives
// when; the final state must equal that of in-order, single delivery.

import type { BoxReport } from "@boxyard/agent-protocol";
import { waitFor } from "@boxyard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

let h: LifecycleHarness;
let nodeId: string;
beforeEach(async () => {
  h = await LifecycleHarness.start();
  ({ nodeId } = await h.link.register({
    name: "manual",
    runtime: "fake",
    capacity: { cpu: 8, memoryMiB: 8192, diskGiB: 100, gpus: 0 },
    agentVersion: "test",
  }));
  h.startReconciler();
});
afterEach(async () => h?.close());

async function published(id: string, generation: number) {
  await waitFor(async () => (await h.box(id)).node_generation === generation, {
    message: `generation ${generation} to be published to the node`,
  });
}

function report(boxId: string, generation: number, seq: number, phase: BoxReport["phase"]): BoxReport {
  return { boxId, generation, seq, phase };
}

/** Seeded shuffle, so a failure is reproducible. */
function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("node reports (D5)", () => {
  it("rejects duplicate, reordered and stale reports and keeps the in-order outcome", async () => {
    const { id } = await h.create("r1");
    await published(id, 1);
    expect(
      (await h.link.report(nodeId, [report(id, 1, 1, "prepared"), report(id, 1, 2, "running")])).accepted,
    ).toBe(2);
    await h.settled(id, "running");

    await h.verb(id, "stop");
    await published(id, 2);
    expect((await h.box(id)).actual_state).toBe("stopping");
    await h.link.report(nodeId, [report(id, 2, 3, "stopped")]);
    await h.settled(id, "stopped");

    // Replays of older reports, three times each, are all rejected.
    const stale = [report(id, 1, 2, "running"), report(id, 1, 1, "prepared"), report(id, 2, 3, "stopped")];
    const { accepted } = await h.link.report(nodeId, [...stale, ...stale, ...stale]);
    expect(accepted).toBe(0);
    // A report for a generation never published to the node is rejected too.
    expect((await h.link.report(nodeId, [report(id, 9, 99, "running")])).accepted).toBe(0);
    const b = await h.box(id);
    expect(b.actual_state).toBe("stopped");
    expect(b.observed_generation).toBe(2);
  });

  it("the API publishes a change in its transaction and the completing report settles it in its own", async () => {
    const { id } = await h.create("r9");
    await published(id, 1);
    await h.link.report(nodeId, [report(id, 1, 1, "running")]);
    await h.settled(id, "running");
    // No reconciler from here on: both steps are taken where the change happens.
    for (const r of h.reconcilers) await r.stop();
    await h.verb(id, "pause");
    let b = await h.box(id);
    expect([b.actual_state, b.node_generation, b.node_phase]).toEqual(["pausing", 2, "paused"]);
    await h.link.report(nodeId, [report(id, 2, 2, "paused")]);
    b = await h.box(id);
    expect([b.actual_state, b.observed_generation]).toEqual(["paused", 2]);
    expect(await h.pendingOperations(id)).toBe(0);
    // A report that does not complete the change (a progress report) leaves the box to the reconciler.
    await h.verb(id, "resume");
    await h.link.report(nodeId, [report(id, 3, 3, "paused")]);
    b = await h.box(id);
    expect([b.actual_state, b.observed_generation]).toEqual(["resuming", 2]);
  });

  it("a report from before a newer desired change does not settle the newer generation", async () => {
    const { id } = await h.create("r2");
    await published(id, 1);
    await h.link.report(nodeId, [report(id, 1, 1, "running")]);
    await h.settled(id, "running");
    await h.verb(id, "stop");
    await published(id, 2);
    // The node still says running for generation 1, later than its last report: accepted, but not settling.
    await h.link.report(nodeId, [report(id, 1, 2, "running")]);
    await waitFor(async () => (await h.box(id)).agent_seq === 2);
    const b = await h.box(id);
    expect(b.actual_state).toBe("stopping");
    expect(b.observed_generation).toBe(1);
  });

  it("shuffled and duplicated delivery ends where in-order delivery does", async () => {
    const { id } = await h.create("r3");
    await published(id, 1);
    await h.verb(id, "stop");
    await published(id, 2);
    await h.verb(id, "start");
    await published(id, 3);
    const history = [
      report(id, 1, 1, "prepared"),
      report(id, 1, 2, "running"),
      report(id, 2, 3, "stopped"),
      report(id, 3, 4, "prepared"),
      report(id, 3, 5, "running"),
    ];
    const delivery = shuffle([...history, ...history, ...history], 7);
    for (const r of delivery) await h.link.report(nodeId, [r]);
    const b = await h.settled(id, "running");
    expect(b.agent_generation).toBe(3);
    expect(b.agent_seq).toBe(5);
    expect(await h.pendingOperations(id)).toBe(0);
  });
});
