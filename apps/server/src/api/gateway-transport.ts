// The HTTP side of the gateway transport (gateways in their own processes),
// plus the two control-plane actions every gateway needs, shared with the
// in-process gateway of all-in-one mode: wake a box for a connecting user,
// and record a session event in the audit log.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { recordAudit } from "@boxyard/audit";
import type { Actor, TicketSigner } from "@boxyard/auth";
import { authorizedStore } from "@boxyard/authz";
import {
  GATEWAY_TOKEN_HEADER,
  gatewayEvents,
  gatewayLookupBox,
  gatewayLookupKey,
  gatewayRegister,
  gatewayWake,
} from "@boxyard/contract";
import { inTx } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { DbGatewayDirectory, type GatewayAuditEvent } from "@boxyard/gateway";
import { changeBoxDesiredState } from "@boxyard/lifecycle";
import type { Clock, IdGen } from "@boxyard/platform";
import type pg from "pg";
import type { ApiDeps } from "../http/context.ts";
import { admitWithinQuota } from "./quotas.ts";
import { resolveOrgTemplate } from "./templates.ts";
import type { RouteRegistrar } from "./registrar.ts";

/** Gateways, in-process or remote, read and write as this system actor. */
const GATEWAY: Actor = { kind: "system", name: "gateway" };

function hash(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * Wakes a box because a user connected to it: a paused box is resumed, a
 * stopped one is booted when its template allows that (same quota admission
 * as `boxyard resume`/`start`); anything else is refused with what to do.
 */
export async function wakeForConnect(
  d: { pool: pg.Pool; ids: IdGen; clock: Clock },
  route: { boxId: string; orgId: string; boxName: string },
  userId: string,
): Promise<void> {
  const store = authorizedStore(d.pool, GATEWAY);
  const box = await store.getBoxById(route.boxId);
  if (!box || box.deleted_at) throw new DomainError("box_not_found");
  let policy: "paused" | "stopped" = "paused";
  try {
    policy = (await resolveOrgTemplate(store, box.org_id, box.template, box.template_version)).wakeOnConnect;
  } catch {
    // A template that is gone: the cautious default.
  }
  const paused = box.desired_state === "paused" || box.actual_state === "paused";
  const stopped = box.desired_state === "stopped" || box.actual_state === "stopped";
  const verb = paused ? "resume" : stopped && policy === "stopped" ? "start" : null;
  if (!verb)
    throw new DomainError("invalid_transition", {
      detail: stopped
        ? `${box.name} is stopped and its template does not start it on connect; start it first (boxyard start ${box.name})`
        : `${box.name} is ${box.actual_state}; try again once it is running`,
    });
  await changeBoxDesiredState(store, d.ids, { boxId: route.boxId, verb }, async (tx, c) => {
    if (!c.noop) await admitWithinQuota(store.on(tx), route.orgId, c.box.team_id);
    await recordAudit(tx, {
      orgId: route.orgId,
      actor: { kind: "system", name: "gateway" },
      action: `box.${verb}`,
      target: { kind: "box", id: route.boxId, name: route.boxName },
      result: "success",
      details: { reason: "wake on connect", userId },
      at: d.clock.now(),
    });
  });
}

/** A gateway session event as an audit row of the box's org, attributed to the user. */
export async function recordSessionEvent(pool: pg.Pool, e: GatewayAuditEvent): Promise<void> {
  await inTx(pool, (tx) =>
    recordAudit(tx, {
      orgId: e.orgId,
      actor: { kind: "user", id: e.userId, name: e.username ?? null },
      action: e.action,
      target: { kind: "box", id: e.boxId, name: e.boxName ?? null },
      result: "success",
      details: e.details,
      at: new Date(e.at),
    }),
  );
}

export function registerGatewayTransportRoutes(
  r: RouteRegistrar,
  o: { tickets: TicketSigner; publicUrl: () => string },
): void {
  const { deps } = r;
  const directory = new DbGatewayDirectory(deps.pool);
  const gateway = authorizedStore(deps.pool, GATEWAY);

  /** The gateway the token belongs to; anything else is the same 401, so ids are not probed. */
  async function authorizeGateway(
    id: string,
    headers: Record<string, string | string[] | undefined>,
    d: ApiDeps,
  ): Promise<void> {
    const given = headers[GATEWAY_TOKEN_HEADER];
    const gw = typeof given === "string" ? await authorizedStore(d.pool, GATEWAY).getGatewayById(id) : null;
    const ok = typeof given === "string" && gw !== null && timingSafeEqual(hash(given), gw.token_hash);
    if (!ok)
      throw new DomainError("unauthorized", {
        detail: `send the gateway's token in ${GATEWAY_TOKEN_HEADER}`,
      });
    await authorizedStore(d.pool, GATEWAY).touchGateway(id);
  }

  r.add(gatewayRegister, async (ctx) => {
    if (!ctx.actor.user.site_admin)
      throw new DomainError("forbidden", { detail: "registering gateways needs a site admin" });
    // A new token on every registration: a restarted gateway registers again and the old token stops working.
    const gatewayToken = `byg_${randomBytes(32).toString("base64url")}`;
    const gw = await authorizedStore(deps.pool, ctx.actor).upsertGateway({
      id: deps.ids.newId("gw"),
      name: ctx.body.name,
      httpUrl: ctx.body.httpUrl.replace(/\/+$/, ""),
      sshHost: ctx.body.sshHost,
      sshPort: ctx.body.sshPort,
      hostKey: ctx.body.hostKey,
      tokenHash: hash(gatewayToken),
    });
    deps.logger.info({ gateway: gw.name, url: gw.http_url }, "gateway registered");
    return {
      gatewayId: gw.id,
      gatewayToken,
      ticketKey: o.tickets.exportKey(),
      allowedOrigins: [new URL(o.publicUrl()).origin],
    };
  });

  r.add(gatewayLookupKey, async (ctx) => {
    await authorizeGateway(ctx.params.gateway, ctx.headers, deps);
    return { user: await directory.userForKey(ctx.body.fingerprint) };
  });

  r.add(gatewayLookupBox, async (ctx) => {
    await authorizeGateway(ctx.params.gateway, ctx.headers, deps);
    const { userId, box, org } = ctx.body;
    return { route: await directory.boxForUser(userId, org ? { box, org } : { box }) };
  });

  r.add(gatewayWake, async (ctx) => {
    await authorizeGateway(ctx.params.gateway, ctx.headers, deps);
    const box = await gateway.getBoxById(ctx.body.boxId);
    const org = box && !box.deleted_at ? await gateway.getOrgWithRole(box.org_id, ctx.body.userId) : null;
    // The user must still be allowed on this very box.
    const route =
      box && org ? await directory.boxForUser(ctx.body.userId, { box: box.name, org: org.name }) : null;
    if (!route || route.boxId !== ctx.body.boxId) throw new DomainError("box_not_found");
    await wakeForConnect(deps, route, ctx.body.userId);
    return {
      route:
        (await directory.boxForUser(ctx.body.userId, { box: route.boxName, org: route.orgName })) ?? route,
    };
  });

  r.add(gatewayEvents, async (ctx) => {
    await authorizeGateway(ctx.params.gateway, ctx.headers, deps);
    for (const e of ctx.body.events) await recordSessionEvent(deps.pool, e);
    return { accepted: ctx.body.events.length };
  });
}
