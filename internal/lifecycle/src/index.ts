export { applyPlan, snapshotOf, toNodeSnapshot } from "./apply-plan.ts";
export { type BackoffOptions, backoffMs } from "./backoff.ts";
export { changeBoxDesiredState, type CreateBoxInput, createBox, newMachineId } from "./box-service.ts";
export { RetryableError, StaleWriteError, TerminalError } from "./errors.ts";
export { publishStep, recordLeft, settleStep, takeStepInTx } from "./inline-steps.ts";
export { FailpointCrash, Failpoints, failpoints, isCrash } from "./failpoints.ts";
export {
  createLifecycleMetrics,
  createPhaseHistogram,
  CREATE_PHASES,
  type CreatePhase,
  createPoolMetrics,
  type LifecycleMetrics,
  poolClaimCounter,
} from "./metrics.ts";
export { PoolController, type PoolControllerOptions, type PoolPass, quotaHeadroom } from "./pools.ts";
export { AgentCommandError, InProcessNodeLink, UnknownBoxError, UnknownNodeError } from "./node-link.ts";
export { type Channel, PgListener } from "./pg-listener.ts";
export { BOX_WAIT_POLL_MS, type BoxWait, untilBox } from "./box-wait.ts";
export {
  type Action,
  type AgentView,
  type BoxSnapshot,
  phaseSatisfies,
  plan,
  transientState,
} from "./plan.ts";
export { type ReconcileResult, Reconciler, type ReconcilerOptions } from "./reconciler.ts";
export { type NodeSnapshot, type Placement, type PlacementRequest, place } from "./scheduler.ts";
export * from "./states.ts";
export { baseDefaults, builtInTemplates, type ResolvedTemplate, resolveTemplate } from "./templates.ts";
