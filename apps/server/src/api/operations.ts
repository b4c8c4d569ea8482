import { authorizeOrg } from "@boxyard/authz";
import { getOperation } from "@boxyard/contract";
import { getBoxViewById, getOperationById } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { operationView } from "./box-view.ts";
import type { RouteRegistrar } from "./registrar.ts";

export function registerOperationRoutes(r: RouteRegistrar): void {
  const { deps } = r;
  r.add(getOperation, async (ctx) => {
    const op = await getOperationById(deps.pool, ctx.params.id);
    const box = op ? await getBoxViewById(deps.pool, op.box_id) : null;
    if (!op || !box) throw new DomainError("operation_not_found", { detail: ctx.params.id });
    // Only someone who may read the box sees its operations; anyone else gets the same 404.
    try {
      await authorizeOrg(deps.pool, ctx.actor, box.org_name, "box", "read");
    } catch (err) {
      if (err instanceof DomainError) throw new DomainError("operation_not_found", { detail: ctx.params.id });
      throw err;
    }
    return operationView(op);
  });
}
