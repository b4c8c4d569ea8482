import { ActualState as ActualStateSchema, DesiredState as DesiredStateSchema } from "@boxyard/contract";

// Box states and the one table of which changes are legal. The API asks
// `desiredChange` whether a user request may change desired state; the
// reconciler asks `canTransition` before every actual-state write.

// The state names are the public contract's; this module owns what may follow what.
export const DESIRED_STATES = DesiredStateSchema.options;
export type DesiredState = (typeof DESIRED_STATES)[number];

export const ACTUAL_STATES = ActualStateSchema.options;
export type ActualState = (typeof ACTUAL_STATES)[number];

/** States a box passes through on its way somewhere; time in them is measured. */
export const TRANSIENT_STATES: ReadonlySet<ActualState> = new Set([
  "pending",
  "scheduling",
  "provisioning",
  "starting",
  "stopping",
  "pausing",
  "resuming",
  "deleting",
]);

const ALL: readonly ActualState[] = ACTUAL_STATES;

/**
 * Which actual states may follow which. Because the reconciler is
 * level-triggered a box may skip intermediate states (a report can arrive
 * late), so most states reach most others; what the table forbids is
 * leaving `deleted` and going back to the pre-placement states once placed.
 */
export const transitions: Readonly<Record<ActualState, readonly ActualState[]>> = {
  pending: ["scheduling", "provisioning", "stopped", "deleting", "deleted", "failed"],
  scheduling: ["provisioning", "stopped", "deleting", "deleted", "failed"],
  provisioning: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  starting: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  running: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  stopping: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  stopped: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  pausing: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  paused: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  resuming: ALL.filter((s) => s !== "pending" && s !== "scheduling"),
  deleting: ["deleting", "deleted", "failed"],
  deleted: [],
  // A failed box that was never placed goes back through scheduling.
  failed: ALL.filter((s) => s !== "pending"),
};

export function canTransition(from: ActualState, to: ActualState): boolean {
  return from === to || transitions[from].includes(to);
}

export type BoxVerb = "start" | "stop" | "pause" | "resume" | "delete";

export const VERB_TARGET: Readonly<Record<BoxVerb, DesiredState>> = {
  start: "running",
  stop: "stopped",
  pause: "paused",
  resume: "running",
  delete: "deleted",
};

export type DesiredChange =
  /** Already wanted and reached or on its way: succeed without a new generation. */
  { kind: "noop" } | { kind: "change"; to: DesiredState } | { kind: "invalid"; reason: string };

/**
 * The legal desired changes, keyed by verb then by the box's current
 * desired state. `resume` is only meaningful for a paused box; `pause` only
 * for one that is (or is becoming) running. Delete is always allowed.
 */
const verbRules: Record<BoxVerb, Record<DesiredState, "noop" | "change" | "invalid">> = {
  start: { running: "noop", stopped: "change", paused: "change", deleted: "invalid" },
  stop: { running: "change", stopped: "noop", paused: "change", deleted: "invalid" },
  pause: { running: "change", stopped: "invalid", paused: "noop", deleted: "invalid" },
  resume: { running: "noop", stopped: "invalid", paused: "change", deleted: "invalid" },
  delete: { running: "change", stopped: "change", paused: "change", deleted: "noop" },
};

/**
 * Decides what a user's verb does to a box. A failed box may be started or
 * deleted (and stopped) even when its desired state already says so: the
 * new generation is what makes the node try again.
 */
export function desiredChange(
  box: { desiredState: DesiredState; actualState: ActualState },
  verb: BoxVerb,
): DesiredChange {
  const to = VERB_TARGET[verb];
  if (box.actualState === "failed" && (verb === "start" || verb === "delete" || verb === "stop")) {
    return { kind: "change", to };
  }
  const rule = verbRules[verb][box.desiredState];
  if (rule === "noop") return { kind: "noop" };
  if (rule === "change") return { kind: "change", to };
  return {
    kind: "invalid",
    reason: `cannot ${verb} a box whose desired state is ${box.desiredState} (actual ${box.actualState})`,
  };
}
