import { inTx } from "@boxyard/db";
import { auditFor } from "./audit.ts";
import { execInBox } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import { authorizeBox } from "./boxes.ts";
import { holdConnection } from "../http/register.ts";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";

/** Time an exec's answer may take beyond the command's own timeout (the agent's pick-up, a loaded node). */
const EXEC_ANSWER_SLACK_MS = 60_000;

export function registerBoxExecRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;
  r.add(execInBox, async (ctx, reply) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "exec");
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
    if (box.actual_state !== "running" || !box.node_id) {
      throw new DomainError("box_not_running", { detail: `${box.name} is ${box.actual_state}` });
    }
    const agent = lc.link.commandsFor(box.node_id);
    const timeoutMs = (ctx.body.timeoutSeconds ?? 60) * 1000;
    // The answer comes when the command ends (up to its timeout), plus the node's round trip.
    holdConnection(reply, timeoutMs + EXEC_ANSWER_SLACK_MS);
    try {
      return await agent.exec({
        boxId: box.id,
        command: ctx.body.command,
        timeoutMs,
        maxOutputBytes: lc.execMaxOutputBytes,
      });
    } catch (err) {
      if ((err as { code?: string }).code === "invalid_box_state") {
        throw new DomainError("box_not_running", { detail: (err as Error).message });
      }
      throw new DomainError("exec_failed", { detail: (err as Error).message, cause: err });
    }
  });
}
