import type { ObservedPhase } from "@boxyard/agent-protocol";
import { describe, expect, it } from "vitest";
import { type Action, type BoxSnapshot, plan } from "./plan.ts";
import type { ActualState, DesiredState } from "./states.ts";

function box(
  desiredState: DesiredState,
  actualState: ActualState,
  o: {
    gen?: number;
    observed?: number;
    node?: string | null;
    published?: number;
    phase?: ObservedPhase | null;
    agentGen?: number;
    error?: BoxSnapshot["agent"]["error"];
  } = {},
): BoxSnapshot {
  const gen = o.gen ?? 1;
  return {
    desiredState,
    actualState,
    generation: gen,
    observedGeneration: o.observed ?? 0,
    nodeId: o.node === undefined ? "node_1" : o.node,
    nodeGeneration: o.published ?? gen,
    agent: { phase: o.phase ?? null, generation: o.agentGen ?? gen, error: o.error ?? null, reason: null },
  };
}

/** A compact rendering of the plan for table comparison. */
function summary(actions: Action[]): string {
  return actions
    .map((a) => {
      switch (a.kind) {
        case "setState":
          return `state:${a.to}`;
        case "completeOperations":
          return `ops:${a.status}`;
        case "retry":
        case "fail":
          return `${a.kind}:${a.error.code}`;
        case "publish":
          return `publish:${a.phase}@${a.generation}`;
        case "schedule":
          return `schedule:${a.phase}`;
        case "observe":
          return `observe:${a.generation}`;
        default:
          return a.kind;
      }
    })
    .join(" ");
}

describe("plan()", () => {
  const transient = { code: "injected_failure", message: "boom", permanent: false, attempts: 1 };
  const permanent = { code: "image_layer_missing", message: "no layer", permanent: true, attempts: 1 };
  const cases: Array<[string, BoxSnapshot, string]> = [
    ["new box without a node is scheduled", box("running", "pending", { node: null }), "schedule:running"],
    [
      "a desired change is published to the node with the transient state",
      box("stopped", "running", { gen: 2, published: 1, phase: "running", agentGen: 1 }),
      "state:stopping publish:stopped@2 wait",
    ],
    [
      "delete is published as absent",
      box("deleted", "paused", { gen: 3, published: 2, phase: "paused", agentGen: 2 }),
      "state:deleting publish:absent@3 wait",
    ],
    [
      "stopped before placement settles at once",
      box("stopped", "pending", { node: null }),
      "state:stopped observe:1 ops:succeeded clearError",
    ],
    ["placed, no report yet: provisioning", box("running", "provisioning"), "state:provisioning wait"],
    [
      "node prepared it: starting",
      box("running", "provisioning", { phase: "prepared" }),
      "state:starting wait",
    ],
    [
      "node runs it: running",
      box("running", "starting", { phase: "running" }),
      "state:running observe:1 ops:succeeded clearError",
    ],
    [
      "a report of an older generation never settles a newer one",
      box("stopped", "running", { gen: 2, observed: 1, phase: "running", agentGen: 1 }),
      "state:stopping wait",
    ],
    [
      "stop reached",
      box("stopped", "stopping", { gen: 2, phase: "stopped" }),
      "state:stopped observe:2 ops:succeeded clearError",
    ],
    [
      "pause in flight",
      box("paused", "running", { gen: 3, phase: "running", agentGen: 2 }),
      "state:pausing wait",
    ],
    [
      "checkpointed counts as paused",
      box("paused", "pausing", { gen: 3, phase: "checkpointed" }),
      "state:paused observe:3 ops:succeeded clearError",
    ],
    [
      "resume in flight",
      box("running", "paused", { gen: 4, phase: "paused", agentGen: 3 }),
      "state:resuming wait",
    ],
    [
      "delete waits for the node",
      box("deleted", "running", { gen: 5, phase: "running", agentGen: 4 }),
      "state:deleting wait",
    ],
    [
      "delete confirmed absent",
      box("deleted", "deleting", { gen: 5, phase: "absent" }),
      "state:deleted observe:5 ops:succeeded clearError markDeleted",
    ],
    [
      "delete of a never-placed box",
      box("deleted", "scheduling", { node: null }),
      "state:deleted observe:1 ops:succeeded clearError markDeleted",
    ],
    [
      "transient node failure is retried, in the state its real phase implies",
      box("running", "provisioning", { phase: "prepared", error: transient }),
      "state:starting retry:injected_failure",
    ],
    [
      "permanent node failure fails the box",
      box("running", "provisioning", { phase: "failed", error: permanent }),
      "fail:image_layer_missing state:failed observe:1 ops:failed",
    ],
    [
      "a failed box stays failed until a new generation",
      box("running", "failed", { observed: 1, phase: "failed", error: permanent }),
      "",
    ],
    [
      "start of a failed box: the new generation goes to the node",
      box("running", "failed", { gen: 2, observed: 1, published: 1, phase: "failed", agentGen: 1 }),
      "state:provisioning publish:running@2 wait",
    ],
    ["deleted is final", box("deleted", "deleted"), ""],
  ];
  it.each(cases)("%s", (_name, snapshot, want) => {
    expect(summary(plan(snapshot))).toBe(want);
  });
});
