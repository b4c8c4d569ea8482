// Two of the reconciler's steps taken where the change happens instead of
// one reconcile pass (a notification, a claim, a read, a transaction and a
// release) later:
//
//   - publishing a desired change to the box's node, in the API's
//     transaction that made the change (the node's agent wakes at its
//     commit), and
//   - settling the state a node's report completes (the box's actual state,
//     observedGeneration, its operations), in a transaction right after the
//     report, fenced on the version the report left.
//
// plan() decides both, exactly as it does for the reconciler, and the
// writes are the reconciler's (applyPlanIn, as the reconciler actor, fenced
// on the row version). Any other step is left to the reconciler. The row
// stays due, so the reconciler still looks (level-triggered) and finds
// nothing to do for these: one source of truth, no second path.

import type { BoxRow } from "@boxyard/db";
import type pg from "pg";
import { type Applied, applyPlanIn, snapshotOf } from "./apply-plan.ts";
import type { LifecycleMetrics } from "./metrics.ts";
import { type Action, plan } from "./plan.ts";
import { type ActualState, canTransition, TRANSIENT_STATES } from "./states.ts";

/** The reconciler's next step for `box` when it publishes a desired change to the box's node; else null. */
export function publishStep(box: BoxRow): Action[] | null {
  const actions = plan(snapshotOf(box));
  return actions.some((a) => a.kind === "publish") && legal(box, actions) ? actions : null;
}

/**
 * The reconciler's next step for `box` when it settles the box in its
 * desired state (the node reported the phase that completes it); else null.
 * A failure or a delete is left to the reconciler.
 */
export function settleStep(box: BoxRow): Action[] | null {
  // A report on a box already settled (a re-report) changes nothing the reconciler would write.
  if (box.actual_state === box.desired_state && box.observed_generation >= box.generation) return null;
  const actions = plan(snapshotOf(box));
  const settles = actions.some((a) => a.kind === "completeOperations" && a.status === "succeeded");
  return settles && !actions.some((a) => a.kind === "markDeleted") && legal(box, actions) ? actions : null;
}

/**
 * Whether the step's state change is in the transition table: applyPlan
 * throws on one that is not, which here would undo the caller's whole
 * transaction (the desired change, the report); the reconciler meets it instead.
 */
function legal(box: BoxRow, actions: readonly Action[]): boolean {
  const from = box.actual_state as ActualState;
  return actions.every((a) => a.kind !== "setState" || a.to === from || canTransition(from, a.to));
}

/**
 * Takes `actions` (from publishStep or settleStep) in `tx`, fenced on
 * `box.version`: a row written since throws StaleWriteError.
 */
export async function takeStepInTx(
  tx: pg.PoolClient,
  box: BoxRow,
  actions: readonly Action[],
  now: Date,
): Promise<Applied> {
  // Neither step schedules, so no node's heartbeat is looked at.
  return applyPlanIn(tx, box, actions, { now, nodeHeartbeatTimeoutMs: 0 });
}

/** After the step's commit: the time the box spent in the transient state it left, as the reconciler records it. */
export function recordLeft(
  metrics: LifecycleMetrics | undefined,
  template: string,
  left: Applied["left"] | undefined,
): void {
  if (left && TRANSIENT_STATES.has(left.state))
    metrics?.stateSeconds.labels(left.state, template).observe(left.seconds);
}
