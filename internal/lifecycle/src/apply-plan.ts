// The thin acting half of the reconciler: turns plan() actions into one
// fenced transaction (box row, events, operations, node desired version).

import type { ObservedPhase } from "@boxyard/agent-protocol";
import {
  type BoxReconcileWrite,
  type BoxRow,
  inTx,
  type Queryable,
  type NodeWithAllocationRow,
} from "@boxyard/db";
import { authorizedStore } from "@boxyard/authz";
import type pg from "pg";
import { RetryableError, StaleWriteError } from "./errors.ts";
import type { Action, BoxSnapshot, ErrorInfo } from "./plan.ts";
import { makeRoom, type NodeSnapshot, place, roomWantedByUsers } from "./scheduler.ts";
import { type ActualState, canTransition, type DesiredState } from "./states.ts";
import { imageKey, type ImageSpec } from "@boxyard/agent-protocol";

/** Every query here runs as the reconciler system actor (B2). */
const asReconciler = (q: Queryable) => authorizedStore(q, { kind: "system", name: "reconciler" });

export function snapshotOf(box: BoxRow): BoxSnapshot {
  return {
    desiredState: box.desired_state as DesiredState,
    actualState: box.actual_state as ActualState,
    generation: box.generation,
    observedGeneration: box.observed_generation,
    nodeId: box.node_id,
    nodeGeneration: box.node_generation,
    agent: {
      phase: box.agent_phase as ObservedPhase | null,
      generation: box.agent_generation,
      error: box.agent_error,
      reason: box.agent_reason,
    },
  };
}

export interface ApplyOptions {
  pool: pg.Pool;
  now: Date;
  nodeHeartbeatTimeoutMs: number;
  /** Driver name boxes need; undefined accepts any node. */
  runtime?: string;
}

export interface Applied {
  /** The row as written (or as read, when nothing changed). */
  box: BoxRow;
  waiting: boolean;
  /** Thrown after the commit: e.g. no capacity, which is retried with backoff. */
  retry?: RetryableError;
  /** The state the box left, when it changed, for the time-in-state histogram. */
  left?: { state: ActualState; seconds: number };
}

function lastError(
  e: ErrorInfo,
  at: Date,
  attempts: number,
  permanent: boolean,
): NonNullable<BoxRow["last_error"]> {
  return { code: e.code, message: e.message, at: at.toISOString(), attempts, permanent };
}

/** A node row as the scheduler (and the nodes API) sees it: health from its heartbeat age, what its boxes hold. */
export function toNodeSnapshot(n: NodeWithAllocationRow, timeoutMs: number): NodeSnapshot {
  return {
    id: n.id,
    name: n.name,
    runtime: n.runtime,
    healthy: n.status === "ready" && n.heartbeat_age_ms !== null && n.heartbeat_age_ms <= timeoutMs,
    capacity: n.capacity,
    allocated: {
      cpu: n.alloc_cpu,
      memoryMiB: n.alloc_memory_mib,
      diskGiB: n.alloc_disk_gib,
      gpus: n.alloc_gpus,
    },
    cachedImages: n.cached_images,
  };
}

export async function applyPlan(
  box: BoxRow,
  actions: readonly Action[],
  opts: ApplyOptions,
): Promise<Applied> {
  return inTx(opts.pool, (tx) => applyPlanIn(tx, box, actions, opts));
}

/**
 * applyPlan in the caller's transaction: the step's writes commit with
 * whatever else that transaction holds (the API's desired change, the
 * node's report), or not at all. Every write runs as the reconciler.
 */
export async function applyPlanIn(
  tx: pg.PoolClient,
  box: BoxRow,
  actions: readonly Action[],
  opts: Omit<ApplyOptions, "pool">,
): Promise<Applied> {
  const write: BoxReconcileWrite = {};
  let waiting = false;
  let retry: RetryableError | undefined;
  let reason = "";
  let completion: Extract<Action, { kind: "completeOperations" }> | undefined;
  let placedOn: string | undefined;
  const from = box.actual_state as ActualState;

  for (const a of actions) {
    switch (a.kind) {
      case "schedule": {
        // Placement reads every node's allocation; serialise placements so
        // two workers cannot both fill the last slot of one node.
        await asReconciler(tx).lockScheduler();
        const nodes = (await asReconciler(tx).listNodesWithAllocation()).map((n) =>
          toNodeSnapshot(n, opts.nodeHeartbeatTimeoutMs),
        );
        const req = {
          resources: box.resources,
          runtime: opts.runtime,
          imageKey: imageKey(box.image as ImageSpec),
          ...(box.prebuild ? { prebuildLayer: box.prebuild.layer } : {}),
        };
        const decision = place(req, nodes);
        const pooled = box.pool_id !== null;
        if (pooled && "node" in decision) {
          // Pool priority: a fill never takes room a user's box is waiting for.
          const waiting = await asReconciler(tx).listBoxesWaitingForRoom();
          if (
            roomWantedByUsers(
              decision.node,
              waiting.map((w) => w.resources),
            )
          ) {
            write.actualState = "scheduling";
            reason = "a warm-pool fill waits: users' boxes are waiting for room";
            retry = new RetryableError(
              "no_capacity",
              `node ${decision.node.name} has room, but users' boxes are waiting for it`,
            );
            break;
          }
        }
        if (!pooled && !("node" in decision)) {
          // Pool priority: warm-pool boxes give way to a user's box that fits nowhere else.
          const holds = (await asReconciler(tx).listPooledHolds()).map((h) => ({
            id: h.id,
            version: h.version,
            nodeId: h.node_id,
            resources: h.resources,
            ready: h.ready,
            draining: h.draining,
            createdAt: h.created_at,
          }));
          const room = makeRoom(req, nodes, holds);
          if (room) {
            let evicted = 0;
            for (const p of room.evict) {
              // Asked to go as a drain would; the user's box's own event says why it waits.
              if (!(await asReconciler(tx).evictPooledBox(p))) continue;
              await asReconciler(tx).notifyBoxChanged(p.id);
              evicted++;
            }
            write.actualState = "scheduling";
            reason = `waiting for warm-pool boxes on node ${room.node.name} to make room`;
            retry = new RetryableError(
              "no_capacity",
              `waiting for ${evicted > 0 ? `${evicted} warm-pool box(es) just evicted` : "warm-pool boxes already leaving"} on node ${room.node.name} to make room`,
            );
            break;
          }
        }
        if ("node" in decision) {
          placedOn = decision.node.id;
          write.nodeId = placedOn;
          write.nodePhase = a.phase;
          write.nodeGeneration = box.generation;
          write.actualState = "provisioning";
          waiting = true;
          reason = `placed on node ${decision.node.name}`;
        } else {
          write.actualState = "scheduling";
          reason = "waiting for a node with capacity";
          retry = new RetryableError(
            "no_capacity",
            `no node can take this box: ${decision.reasons.join("; ")}`,
          );
        }
        break;
      }
      case "publish":
        write.nodePhase = a.phase;
        write.nodeGeneration = a.generation;
        break;
      case "setState":
        write.actualState = a.to;
        reason = a.reason;
        break;
      case "observe":
        write.observedGeneration = a.generation;
        break;
      case "completeOperations":
        completion = a;
        break;
      case "clearError":
        if (box.last_error !== null || box.attempts !== 0) {
          write.lastError = null;
          write.attempts = 0;
        }
        break;
      case "retry":
        write.lastError = lastError(a.error, opts.now, box.agent_error?.attempts ?? box.attempts + 1, false);
        waiting = true;
        break;
      case "fail":
        write.lastError = lastError(a.error, opts.now, box.agent_error?.attempts ?? box.attempts, true);
        break;
      case "markDeleted":
        write.deleted = true;
        break;
      case "wait":
        waiting = true;
        break;
      default: {
        const never: never = a;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  if (write.actualState === from) write.actualState = undefined;
  if (write.observedGeneration === box.observed_generation) write.observedGeneration = undefined;
  const to = write.actualState as ActualState | undefined;
  if (to !== undefined && !canTransition(from, to)) {
    throw new Error(`illegal transition ${from} -> ${to} for box ${box.id}`);
  }
  const changed = Object.values(write).some((v) => v !== undefined);
  if (!changed && !completion) return { box, waiting, retry };

  let written = box;
  if (changed) {
    const row = await asReconciler(tx).updateBoxFenced(box.id, box.version, write);
    if (!row) throw new StaleWriteError(`box ${box.id}`);
    written = row;
  }
  if (to !== undefined) {
    await asReconciler(tx).insertBoxEvent({
      boxId: box.id,
      orgId: box.org_id,
      generation: box.generation,
      from,
      to,
      reason,
    });
  }
  if (completion) {
    await asReconciler(tx).completeOperations({
      boxId: box.id,
      generation: completion.generation,
      status: completion.status,
      error: completion.error,
    });
  }
  // The node's desired set changes when a box lands on it or leaves it.
  const publishedTo = placedOn ?? (write.nodeGeneration !== undefined ? box.node_id : null);
  if (publishedTo) await asReconciler(tx).bumpNodeDesiredVersion(publishedTo);
  if (write.deleted && box.node_id) await asReconciler(tx).bumpNodeDesiredVersion(box.node_id);
  // A box that left its node (deleted, stopped) freed room: boxes waiting for room look again now
  // rather than at their next backoff (an evicted warm-pool box makes room for a user's box this way).
  if (box.node_id && (write.deleted || write.actualState === "stopped"))
    await asReconciler(tx).wakeBoxesWaitingForRoom();
  const left =
    to !== undefined
      ? { state: from, seconds: (opts.now.getTime() - box.state_entered_at.getTime()) / 1000 }
      : undefined;
  return { box: written, waiting, retry, left };
}
