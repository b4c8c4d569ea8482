import { getOperation } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import { operationView } from "./box-view.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

export function registerOperationRoutes(r: RouteRegistrar): void {
  const { deps } = r;
  r.add(getOperation, async (ctx) => {
    const store = storeFor(deps, ctx.actor, ctx.signal);
    // Only someone who may read the box sees its operations (the store checks box.read in the
    // operation's org); anyone else, including a role without box.read, gets the same 404.
    try {
      const op = await store.getOperationById(ctx.params.id);
      const box = op ? await store.getBoxViewById(op.box_id) : null;
      if (!op || !box) throw new DomainError("operation_not_found", { detail: ctx.params.id });
      return operationView(op);
    } catch (err) {
      if (err instanceof DomainError) throw new DomainError("operation_not_found", { detail: ctx.params.id });
      throw err;
    }
  });
}
