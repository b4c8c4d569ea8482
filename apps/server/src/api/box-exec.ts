import type { AuthorizedStore } from "@boxyard/authz";
import { inTx } from "@boxyard/db";
import { auditFor } from "./audit.ts";
import { execInBox } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import { authorizeBox } from "./boxes.ts";
import { holdConnection } from "../http/register.ts";
import { untilBox } from "@boxyard/lifecycle";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";

/** Time an exec's answer may take beyond the command's own timeout (the agent's pick-up, a loaded node). */
const EXEC_ANSWER_SLACK_MS = 60_000;
interface BoxState {
  id: string;
  name: string;
  desired_state: string;
  actual_state: string;
  generation: number;
  node_id: string | null;
  deleted_at: Date | null;
}

/** Running and placed: an exec can go to its node. */
const runs = (b: BoxState) => b.actual_state === "running" && b.node_id !== null;
/** Asked to run, on a node: the node can take a waiting exec (it runs once the node has the box up). */
const placed = (b: BoxState) =>
  runs(b) || (b.desired_state === "running" && b.node_id !== null && b.actual_state !== "failed");

/**
 * Waits up to `ms` for a box asked to run (just started or resumed) to be
 * on a node that can take the exec (placed), woken by the box-event NOTIFY
 * (a poll each second as the safety net). A resume is placed at once; a
 * start may wait for the scheduler. Fails at once, with what the box is
 * doing, when it stops being on its way: asked to stop, pause or go,
 * failed, deleted.
 */
function untilPlaced(
  lc: LifecycleDeps,
  store: AuthorizedStore,
  box: BoxState,
  ms: number,
  signal?: AbortSignal,
): Promise<BoxState & { node_id: string }> {
  return untilBox({
    listener: lc.listener,
    boxId: box.id,
    read: () => store.getBoxById(box.id),
    first: box,
    decide: (b: BoxState | null) => {
      if (!b || b.deleted_at) throw new DomainError("box_not_found", { detail: `${box.name} was deleted` });
      if (placed(b)) return b as BoxState & { node_id: string };
      if (b.desired_state !== "running" || b.actual_state === "failed")
        throw new DomainError("box_not_running", {
          detail: `${b.name} is ${b.actual_state}${b.desired_state !== "running" ? ` (asked to be ${b.desired_state})` : ""}`,
        });
      return undefined;
    },
    ms,
    late: () =>
      new DomainError("box_not_running", {
        detail: `${box.name} was not running within ${Math.round(ms / 1000)} s (waitSeconds)`,
      }),
    signal,
    aborted: () => new DomainError("box_not_running", { detail: "request ended" }),
  });
}

export function registerBoxExecRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;
  r.add(execInBox, async (ctx, reply) => {
    const { box, access, store } = await authorizeBox(deps, ctx.actor, ctx.params, "exec", ctx.signal);
    // Only the program name is kept: arguments may carry secrets.
    await inTx(deps.pool, (tx) =>
      auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "box.exec",
        target: { kind: "box", id: box.id, name: box.name },
        result: "success",
        details: { program: ctx.body.command[0], argc: ctx.body.command.length },
        at: deps.clock.now(),
      }),
    );
    const waitMs = (ctx.body.waitSeconds ?? 0) * 1000;
    const waitUntil = Date.now() + waitMs;
    let target: BoxState = box;
    if (!runs(box)) {
      // A box asked to run (a start or resume just accepted) may be waited for; anything else fails now.
      if (waitMs === 0 || box.desired_state !== "running")
        throw new DomainError("box_not_running", { detail: `${box.name} is ${box.actual_state}` });
      holdConnection(reply, waitMs + EXEC_ANSWER_SLACK_MS);
      target = await untilPlaced(lc, store, box, waitMs, ctx.signal);
    }
    // Not running yet: its node runs the command once it has the box up (NodeAgent.exec), the
    // moment the runtime is done rather than after the control plane has heard and said so.
    const nodeWait = runs(target) ? undefined : Math.max(1, waitUntil - Date.now());
    const nodeId = target.node_id as string;
    const agent = lc.link.commandsFor(nodeId);
    const timeoutMs = (ctx.body.timeoutSeconds ?? 60) * 1000;
    // The answer comes when the command ends (up to its timeout), plus the node's round trip.
    holdConnection(reply, (nodeWait ?? 0) + timeoutMs + EXEC_ANSWER_SLACK_MS);
    try {
      return await agent.exec({
        boxId: box.id,
        command: ctx.body.command,
        timeoutMs,
        maxOutputBytes: lc.execMaxOutputBytes,
        ...(nodeWait ? { waitMs: nodeWait, generation: target.generation } : {}),
      });
    } catch (err) {
      if ((err as { code?: string }).code === "invalid_box_state") {
        throw new DomainError("box_not_running", {
          detail: nodeWait ? `${box.name}: ${(err as Error).message}` : (err as Error).message,
        });
      }
      throw new DomainError("exec_failed", { detail: (err as Error).message, cause: err });
    }
  });
}
