import { type AnchorFile, type AuditEvent, chainOf, recordAudit, verifyChain } from "@boxyard/audit";
import { authorizeOrg } from "@boxyard/authz";
import { listAudit, verifyAudit } from "@boxyard/contract";
import type { AuditEventRow, Queryable } from "@boxyard/db";
import type { RequestContext } from "../http/context.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

/** Records an event for the calling user, with the request's id and source address. */
export function auditFor(
  tx: Queryable,
  ctx: Pick<RequestContext<unknown, unknown, unknown>, "actor" | "requestId" | "ip">,
  e: Omit<AuditEvent, "actor" | "requestId" | "sourceIp" | "at"> & { at: Date },
) {
  return recordAudit(tx, {
    ...e,
    actor: { kind: "user", id: ctx.actor.user.id, name: ctx.actor.user.username },
    requestId: ctx.requestId,
    sourceIp: ctx.ip,
  });
}

function auditView(r: AuditEventRow) {
  return {
    id: Number(r.id),
    seq: Number(r.seq),
    at: r.at.toISOString(),
    actor: { kind: r.actor_kind, id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: { kind: r.target_kind, id: r.target_id, name: r.target_name },
    result: r.result,
    requestId: r.request_id,
    sourceIp: r.source_ip,
    details: r.details,
    hash: r.hash,
  };
}

export function registerAuditRoutes(r: RouteRegistrar, anchors: AnchorFile | undefined): void {
  const { deps } = r;

  r.add(listAudit, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "audit", "read");
    const limit = ctx.query.limit;
    // An org's chain is keyed by its id (chainOf); the store checks audit.read in that org.
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listAuditEventsByOrg(access.orgId, {
      ...(ctx.query.action !== undefined ? { action: ctx.query.action } : {}),
      ...(ctx.query.result !== undefined ? { result: ctx.query.result } : {}),
      ...(ctx.query.cursor !== undefined ? { beforeId: ctx.query.cursor } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return {
      items: page.map(auditView),
      nextCursor: rows.length > limit ? String(page.at(-1)!.id) : null,
    };
  });

  r.add(verifyAudit, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "audit", "read");
    return verifyChain(deps.pool, access.orgId, await anchors?.latest(chainOf(access.orgId)));
  });
}
