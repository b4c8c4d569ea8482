// The reconciler's brain: a pure function from a snapshot of one box to the
// actions that move it one step toward its desired state. The acting part
// (reconciler.ts) applies them in one fenced write; this file is tested
// with tables (plan.test.ts).

import type { ObservedPhase } from "@boxyard/agent-protocol";
import type { ActualState, DesiredState } from "./states.ts";

export interface AgentView {
  /** The phase the node last reported, null before its first report. */
  phase: ObservedPhase | null;
  /** The box generation that report was about. */
  generation: number;
  error: { code: string; message: string; permanent: boolean; attempts: number } | null;
  reason: string | null;
}

export interface BoxSnapshot {
  desiredState: DesiredState;
  actualState: ActualState;
  generation: number;
  observedGeneration: number;
  nodeId: string | null;
  /** The generation last published to the node's desired set (0: none). */
  nodeGeneration: number;
  agent: AgentView;
}

export type Action =
  /** Pick a node (the scheduler); on success the box becomes provisioning there and is published. */
  | { kind: "schedule"; phase: NodePhase }
  /** Put this generation into the node's desired set, so its agent acts on it. */
  | { kind: "publish"; phase: NodePhase; generation: number }
  | { kind: "setState"; to: ActualState; reason: string }
  /** The desired generation is reached (or has definitively failed). */
  | { kind: "observe"; generation: number }
  | { kind: "completeOperations"; generation: number; status: "succeeded" | "failed"; error?: ErrorInfo }
  | { kind: "clearError" }
  /** A retryable problem the node reported; recorded with backoff, state kept. */
  | { kind: "retry"; error: ErrorInfo }
  /** Stop retrying: the box is failed with a reason the user sees. */
  | { kind: "fail"; error: ErrorInfo }
  | { kind: "markDeleted" }
  /** Nothing to do until the node reports again. */
  | { kind: "wait" };

export interface ErrorInfo {
  code: string;
  message: string;
}

type Target = Exclude<DesiredState, "deleted">;
export type NodePhase = Target | "absent";

/** Whether the node's phase is the resting phase for a desired state. */
export function phaseSatisfies(target: Target, phase: ObservedPhase | null): boolean {
  switch (target) {
    case "running":
      return phase === "running";
    case "paused":
      return phase === "paused" || phase === "checkpointed";
    case "stopped":
      return phase === "stopped" || phase === "prepared" || phase === "absent";
    default: {
      const never: never = target;
      return never;
    }
  }
}

/** The transient state a box is in while the node works from `phase` toward `target`. */
export function transientState(target: Target, phase: ObservedPhase | null): ActualState {
  if (target === "stopped") return "stopping";
  if (target === "running") {
    if (phase === null || phase === "absent") return "provisioning";
    if (phase === "paused" || phase === "checkpointed") return "resuming";
    return "starting";
  }
  // paused
  if (phase === "running" || phase === "paused" || phase === "checkpointed") return "pausing";
  if (phase === null || phase === "absent") return "provisioning";
  return "starting";
}

function settle(box: BoxSnapshot, to: ActualState, reason: string): Action[] {
  return [
    { kind: "setState", to, reason },
    { kind: "observe", generation: box.generation },
    { kind: "completeOperations", generation: box.generation, status: "succeeded" },
    { kind: "clearError" },
  ];
}

export function plan(box: BoxSnapshot): Action[] {
  const g = box.generation;
  const agent = box.agent;
  const fresh = agent.phase !== null && agent.generation === g;

  if (box.actualState === "deleted") return [];
  // A failure already reported for this generation stays until a new desired change.
  if (box.actualState === "failed" && box.observedGeneration >= g) return [];

  // A desired change reaches the node only through this step, so the box
  // always shows the transient state before the node starts on it.
  if (box.nodeId !== null && box.nodeGeneration < g) {
    const phase: NodePhase = box.desiredState === "deleted" ? "absent" : box.desiredState;
    const to =
      phase === "absent" ? "deleting" : transientState(phase, agent.phase === "failed" ? null : agent.phase);
    return [
      { kind: "setState", to, reason: `asked the node to make the box ${phase}` },
      { kind: "publish", phase, generation: g },
      { kind: "wait" },
    ];
  }

  if (box.desiredState === "deleted") {
    if (box.nodeId === null || (fresh && agent.phase === "absent")) {
      return [...settle(box, "deleted", "the box and everything it held are gone"), { kind: "markDeleted" }];
    }
    if (fresh && agent.error) {
      return [
        { kind: "setState", to: "deleting", reason: "waiting for the node to remove the box" },
        { kind: "retry", error: agent.error },
      ];
    }
    return [
      { kind: "setState", to: "deleting", reason: "waiting for the node to remove the box" },
      { kind: "wait" },
    ];
  }

  const target: Target = box.desiredState;
  if (box.nodeId === null) {
    // Nothing was ever placed, so there is nothing to stop.
    if (target === "stopped") return settle(box, "stopped", "stopped before it was placed on a node");
    return [{ kind: "schedule", phase: target }];
  }

  // A transient step failure comes with the phase the box is really in; the node retries it.
  if (fresh && agent.error && !agent.error.permanent) {
    const phase = agent.phase === "failed" ? null : agent.phase;
    return [
      { kind: "setState", to: transientState(target, phase), reason: agent.error.message },
      { kind: "retry", error: agent.error },
    ];
  }
  if (fresh && agent.phase === "failed") {
    const error = agent.error ?? {
      code: "sandbox_failed",
      message: agent.reason ?? "the box failed on its node",
    };
    return [
      { kind: "fail", error },
      { kind: "setState", to: "failed", reason: error.message },
      { kind: "observe", generation: g },
      { kind: "completeOperations", generation: g, status: "failed", error },
    ];
  }

  if (fresh && phaseSatisfies(target, agent.phase))
    return settle(box, target, `the node reports ${agent.phase}`);
  const to = transientState(target, fresh ? agent.phase : agent.phase === "failed" ? null : agent.phase);
  return [{ kind: "setState", to, reason: `the node is moving the box to ${target}` }, { kind: "wait" }];
}
