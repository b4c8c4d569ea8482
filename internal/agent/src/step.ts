import type { DesiredPhase, ObservedPhase } from "@boxyard/agent-protocol";

/** One idempotent runtime call. */
export type Step = "prepare" | "start" | "stop" | "pause" | "resume" | "destroy";

/**
 * The next runtime call that moves a box from what the runtime shows to
 * what the control plane wants, or null when it is there. Pure, so the whole
 * table is tested (step.test.ts); a failed sandbox is first stopped.
 */
export function nextStep(want: DesiredPhase, have: ObservedPhase): Step | null {
  if (want === "absent") return have === "absent" ? null : "destroy";
  switch (have) {
    case "absent":
      return want === "stopped" ? null : "prepare";
    case "prepared":
    case "stopped":
      return want === "stopped" ? null : "start";
    case "running":
      return want === "running" ? null : want === "paused" ? "pause" : "stop";
    case "paused":
    case "checkpointed":
      return want === "paused" ? null : want === "running" ? "resume" : "stop";
    case "failed":
      return "stop";
    default: {
      const never: never = have;
      return never;
    }
  }
}

/** Whether the runtime already shows the wanted phase (for reporting success). */
export function satisfies(want: DesiredPhase, have: ObservedPhase): boolean {
  return nextStep(want, have) === null;
}
