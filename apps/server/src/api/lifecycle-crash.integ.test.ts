// D4: crash at every step boundary. A failpoint after each side effect of
// create, start, stop, pause, resume and delete, in the reconciler and in
// the agent, kills that component; a new one over the same database and
// node state must converge the box exactly once, with no leaked sandbox.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

// A verb's transient state (stopping, starting, pausing, resuming, deleting)
// is written in the API's own transaction with the desired change, and the
// state a report completes (running, stopped, paused) by the link right
// after the report (inline-steps.ts): no crash falls between a desired
// change and its publish, and one after a report but before its settle
// leaves the row due for the reconciler; the reconciler still writes the
// states it reaches itself
// (whether create passes through its own "starting" is a race, so it is
// not listed).
// A crash in the link just after a report settled the box kills the agent
// that sent it.
const FAILPOINTS = [
  "reconciler.after-write:provisioning",
  "reconciler.after-write:deleted",
  "reconciler.before-release",
  "link.before-settle",
  "link.after-settle:running",
  "link.after-settle:stopped",
  "link.after-settle:paused",
  "agent.after-prepare",
  "agent.after-start",
  "agent.after-stop",
  "agent.after-pause",
  "agent.after-resume",
  "agent.after-destroy",
  "agent.after-report",
];

let h: LifecycleHarness;
beforeEach(async () => {
  h = await LifecycleHarness.start();
});
afterEach(async () => h?.close());

describe("crash at every step (D4)", () => {
  it.each(FAILPOINTS)("converges exactly once after a crash at %s", async (failpoint) => {
    h.startReconciler();
    h.startAgent();
    h.failpoints.arm(failpoint);
    const { id } = await h.create("crashy");

    await h.settled(id, "running");
    expect([...h.nodeState.boxes.keys()]).toEqual([id]);
    const pid = h.nodeState.boxes.get(id)?.sandboxPid;
    for (const [verb, state, phase] of [
      ["stop", "stopped", "stopped"],
      ["start", "running", "running"],
      ["pause", "paused", "paused"],
      ["resume", "running", "running"],
    ] as const) {
      await h.verb(id, verb);
      await h.settled(id, state);
      expect(h.nodeState.boxes.get(id)?.phase, verb).toBe(phase);
      expect(h.nodeState.boxes.size).toBe(1);
    }
    // One cold boot for create and one for start: no duplicate start after any crash.
    expect(h.nodeState.boxes.get(id)?.sandboxPid).toBe((pid ?? 0) + 1);

    await h.verb(id, "delete");
    await h.settled(id, "deleted");
    expect(h.nodeState.boxes.size).toBe(0);
    expect(await h.pendingOperations(id)).toBe(0);
    expect(h.failpoints.hasFired(failpoint)).toBe(true);
  });
});
