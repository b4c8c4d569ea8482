// Warm pools per template (contract: packages/contract/src/pools.ts). The
// routes only record the size; the pool controller (internal/lifecycle
// pools.ts) fills and drains, and creates claim (boxes.ts).

import { authorizeOrg } from "@boxyard/authz";
import { getTemplatePool, setTemplatePool } from "@boxyard/contract";
import { inTx, type PoolStatusRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { resolveOrgTemplate } from "./templates.ts";

export function poolView(p: PoolStatusRow) {
  return {
    template: p.template,
    size: p.size,
    target: p.target,
    ready: p.ready,
    starting: p.starting,
    draining: p.draining,
    templateVersion: p.template_version,
    lastError: p.last_error,
  };
}

/** What a template without a pool shows. */
function emptyPool(template: string) {
  return {
    template,
    size: 0,
    target: 0,
    ready: 0,
    starting: 0,
    draining: 0,
    templateVersion: null,
    lastError: null,
  };
}

export function registerPoolRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(setTemplatePool, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "write");
    // The template must exist (the org's own or a built-in one).
    await resolveOrgTemplate(storeFor(deps, ctx.actor, ctx.signal), access.orgId, ctx.params.name);
    await inTx(deps.pool, async (tx) => {
      const p = await storeFor(deps, ctx.actor, ctx.signal)
        .on(tx)
        .upsertPool({
          id: deps.ids.newId("pool"),
          orgId: access.orgId,
          template: ctx.params.name,
          size: ctx.body.size,
        });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "template.pool.set",
        target: { kind: "template", id: p.id, name: ctx.params.name },
        result: "success",
        details: { size: ctx.body.size },
        at: deps.clock.now(),
      });
    });
    const row = await storeFor(deps, ctx.actor, ctx.signal).getPoolStatus(access.orgId, ctx.params.name);
    if (!row) throw new DomainError("template_not_found", { detail: ctx.params.name });
    return poolView(row);
  });

  r.add(getTemplatePool, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    await resolveOrgTemplate(storeFor(deps, ctx.actor, ctx.signal), access.orgId, ctx.params.name);
    const row = await storeFor(deps, ctx.actor, ctx.signal).getPoolStatus(access.orgId, ctx.params.name);
    return row ? poolView(row) : emptyPool(ctx.params.name);
  });
}
