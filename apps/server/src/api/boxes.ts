import { type AuthorizedStore, assertOwnsOrPrivileged, authorizeOrg, type OrgAccess } from "@boxyard/authz";
import type { Actor } from "@boxyard/auth";
import {
  createBox,
  deleteBox,
  getBox,
  listBoxes,
  pauseBox,
  resumeBox,
  startBox,
  stopBox,
} from "@boxyard/contract";
import type { BoxViewRow } from "@boxyard/db";
import { DomainError, isDomainError } from "@boxyard/errors";
import {
  type BoxVerb,
  changeBoxDesiredState,
  recordLeft,
  createBox as createBoxRow,
  poolClaimCounter,
} from "@boxyard/lifecycle";
import type { ApiDeps } from "../http/context.ts";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import { boxView, decodeCursor, encodeCursor, operationView } from "./box-view.ts";
import { auditFor } from "./audit.ts";
import { resolveOrgTemplate } from "./templates.ts";
import { admitWithinQuota } from "./quotas.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

/** A live box of an org the actor may act on, or box_not_found. */
export async function findBox(store: AuthorizedStore, access: OrgAccess, name: string): Promise<BoxViewRow> {
  const box = await store.getLiveBoxByName(access.orgId, name);
  if (!box) throw new DomainError("box_not_found", { detail: name });
  return box;
}

/**
 * Authorises an owner-scoped verb on a named box (members act only on their
 * own boxes). The store it looked with comes back for the rest of the
 * request: it has the actor's role and the box's owner already.
 */
export async function authorizeBox(
  deps: ApiDeps,
  actor: Actor,
  p: { org: string; box: string },
  action: "start" | "stop" | "pause" | "resume" | "delete" | "exec" | "connect" | "share" | "read",
  signal?: AbortSignal,
): Promise<{ access: OrgAccess; box: BoxViewRow; store: AuthorizedStore }> {
  let access: OrgAccess;
  try {
    access = await authorizeOrg(deps.pool, actor, p.org, "box", action);
  } catch (err) {
    // A refusal names the box, so it shows in the box's history, when the caller may see the box at all.
    if (!isDomainError(err) || err.code !== "forbidden" || !err.audit?.orgId) throw err;
    const seen = await storeFor(deps, actor)
      .getLiveBoxByName(err.audit.orgId, p.box)
      .catch(() => null);
    throw new DomainError("forbidden", {
      detail: err.detail,
      audit: { ...err.audit, target: { kind: "box", ...(seen ? { id: seen.id } : {}), name: p.box } },
    });
  }
  const store = storeFor(deps, actor, signal);
  const box = await findBox(store, access, p.box);
  if (action !== "read")
    assertOwnsOrPrivileged(access, actor, box.owner_id, `box.${action}`, {
      kind: "box",
      id: box.id,
      name: box.name,
    });
  return { access, box, store };
}

async function view(store: AuthorizedStore, id: string) {
  const row = await store.getBoxViewById(id);
  if (!row) throw new DomainError("box_not_found");
  return boxView(row);
}

/** How long a create that claimed a pooled box waits for its node to give it the new name and machine-id. */
const IDENTITY_WAIT_MS = 5_000;

/**
 * Waits until the node reports the claimed box's new identity applied, so
 * the first command already sees its hostname. Past the deadline the create
 * still succeeds: the node applies it as soon as it can (level-triggered).
 */
async function awaitIdentity(store: AuthorizedStore, boxId: string, expected: string): Promise<boolean> {
  const deadline = Date.now() + IDENTITY_WAIT_MS;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    const row = await store.getBoxById(boxId);
    if (!row || row.deleted_at || row.agent_identity === expected) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function hasPool(store: AuthorizedStore, orgId: string, template: string): Promise<boolean> {
  return ((await store.getPoolStatus(orgId, template))?.size ?? 0) > 0;
}

export function registerBoxRoutes(r: RouteRegistrar, lc?: Pick<LifecycleDeps, "link" | "metrics">): void {
  const { deps } = r;
  const poolClaims = poolClaimCounter(deps.metrics);

  r.add(createBox, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "box", "create");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const template = await resolveOrgTemplate(
      store,
      access.orgId,
      ctx.body.template,
      ctx.body.templateVersion,
      { forNewBox: true, withPrebuild: true },
    );
    template.resources = { ...template.resources, ...ctx.body.resources };
    // A team box counts against the team's quota too; only its members (and org admins) put boxes in it.
    let teamId: string | null = null;
    if (ctx.body.team !== undefined) {
      const team = await store.getTeamByName(access.orgId, ctx.body.team);
      if (!team) throw new DomainError("team_not_found", { detail: ctx.body.team });
      const privileged = access.role === "owner" || access.role === "admin";
      if (!privileged && !(await store.isTeamMember(team.id, ctx.actor.user.id)))
        throw new DomainError("forbidden", {
          detail: `you are not a member of team ${team.name}`,
          audit: { orgId: access.orgId, action: "box.create" },
        });
      teamId = team.id;
    }
    const { box, operation, claimed } = await createBoxRow(
      store,
      deps.ids,
      {
        orgId: access.orgId,
        ownerId: ctx.actor.user.id,
        name: ctx.body.name,
        template,
        persistent: ctx.body.persistent ?? false,
        teamId,
        // A ready box of exactly this template version, resources and network, if the org keeps a pool of them.
        fromPool: true,
      },
      async (tx, c) => {
        await admitWithinQuota(store.on(tx), access.orgId, teamId);
        await auditFor(tx, ctx, {
          orgId: access.orgId,
          action: "box.create",
          target: { kind: "box", id: c.box.id, name: c.box.name },
          result: "success",
          details: {
            template: template.name,
            templateVersion: template.version,
            resources: template.resources,
            ...(ctx.body.team ? { team: ctx.body.team } : {}),
            ...(c.box.claimed_at ? { claimedFromPool: true } : {}),
          },
          at: deps.clock.now(),
        });
      },
    );
    if (claimed) {
      poolClaims.labels(template.name, "hit").inc();
      const t0 = Date.now();
      // An agent in this process renames the box at once; otherwise (or if that fails) its
      // node applies the identity from its desired set, and the create waits for its report.
      const local = box.node_id ? lc?.link.agentCommands(box.node_id) : undefined;
      let applied = false;
      if (local?.setIdentity && box.machine_id)
        applied = await local
          .setIdentity(box.id, { hostname: box.name, machineId: box.machine_id })
          .then(() => true)
          .catch((err: unknown) => {
            deps.logger.warn({ err, box: box.id }, "could not rename the claimed box at once; its node will");
            return false;
          });
      if (!applied) applied = await awaitIdentity(store, box.id, `${box.name} ${box.machine_id}`);
      deps.logger.info(
        { box: box.id, name: box.name, identityMs: Date.now() - t0, applied },
        "box claimed from the warm pool",
      );
    } else if (await hasPool(store, access.orgId, template.name)) {
      poolClaims.labels(template.name, "miss").inc();
    }
    return { box: await view(store, box.id), operation: operationView(operation) };
  });

  r.add(listBoxes, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "box", "read");
    let after: { createdAt: Date; id: string } | undefined;
    if (ctx.query.cursor !== undefined) {
      after = decodeCursor(ctx.query.cursor) ?? undefined;
      if (!after)
        throw new DomainError("validation_failed", { detail: "query.cursor: not a cursor from this API" });
    }
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listBoxesByOrg(access.orgId, {
      actualState: ctx.query.state,
      ownerUsername: ctx.query.owner,
      teamName: ctx.query.team,
      after,
      limit: ctx.query.limit + 1,
    });
    const page = rows.slice(0, ctx.query.limit);
    const last = page.at(-1);
    return {
      items: page.map(boxView),
      nextCursor: rows.length > ctx.query.limit && last ? encodeCursor(last) : null,
    };
  });

  r.add(getBox, async (ctx) => boxView((await authorizeBox(deps, ctx.actor, ctx.params, "read")).box));

  const verbs: Array<[typeof startBox | typeof deleteBox, BoxVerb]> = [
    [startBox, "start"],
    [stopBox, "stop"],
    [pauseBox, "pause"],
    [resumeBox, "resume"],
    [deleteBox, "delete"],
  ];
  for (const [route, verb] of verbs) {
    r.add(route, async (ctx) => {
      const { box, access, store } = await authorizeBox(deps, ctx.actor, ctx.params, verb, ctx.signal);

      const out = await changeBoxDesiredState(
        store,
        deps.ids,
        { boxId: box.id, verb, now: deps.clock.now() },
        async (tx, c) => {
          // Starting or resuming takes compute again: admit it against the quota.
          if (!c.noop && (verb === "start" || verb === "resume"))
            await admitWithinQuota(store.on(tx), access.orgId, c.box.team_id);
          // How to keep a paused box; asking again with --cold demotes a hot-paused one now.
          const mode =
            verb === "pause"
              ? ((ctx.body as { mode?: "hot" | "cold" } | undefined)?.mode ?? "hot")
              : undefined;
          if (mode) await store.on(tx).setBoxPauseMode(box.id, mode);
          await auditFor(tx, ctx, {
            orgId: access.orgId,
            action: `box.${verb}`,
            target: { kind: "box", id: box.id, name: box.name },
            result: "success",
            details: {
              ...(c.noop
                ? { noop: true }
                : { desiredState: c.box.desired_state, generation: c.box.generation }),
              ...(mode ? { mode } : {}),
            },
            at: deps.clock.now(),
          });
        },
      );
      recordLeft(lc?.metrics, out.box.template, out.left);
      return { box: await view(store, out.box.id), operation: operationView(out.operation) };
    });
  }
}
