import { type AuthorizedStore, authorizeOrg, type OrgAccess } from "@boxyard/authz";
import {
  createTeam,
  getTeamQuota,
  listTeamMembers,
  listTeams,
  removeTeamMember,
  setTeamMember,
  setTeamQuota,
} from "@boxyard/contract";
import { inTx, NO_LIMITS, type QuotaLimits, type TeamRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { isUniqueViolation } from "./users.ts";

async function findTeam(store: AuthorizedStore, access: OrgAccess, name: string): Promise<TeamRow> {
  const team = await store.getTeamByName(access.orgId, name);
  if (!team) throw new DomainError("team_not_found", { detail: name });
  return team;
}

/** The user must be a member of the org before joining one of its teams. */
async function orgMember(store: AuthorizedStore, orgId: string, username: string): Promise<{ id: string }> {
  const user = await store.getLiveUserByUsername(username);
  const membership = user ? await store.getOrgWithRole(orgId, user.id) : null;
  if (!user || !membership?.role)
    throw new DomainError("user_not_found", {
      detail: `${username} is not a member of this organisation; add them to it first`,
    });
  return user;
}

export function registerTeamRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(createTeam, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "org", "manage");
    try {
      const team = await inTx(deps.pool, async (tx) => {
        const t = await storeFor(deps, ctx.actor, ctx.signal)
          .on(tx)
          .insertTeam({
            id: deps.ids.newId("team"),
            orgId: access.orgId,
            name: ctx.body.name,
          });
        await auditFor(tx, ctx, {
          orgId: access.orgId,
          action: "team.create",
          target: { kind: "team", id: t.id, name: t.name },
          result: "success",
          at: deps.clock.now(),
        });
        return t;
      });
      return { id: team.id, name: team.name, members: 0, boxes: 0, createdAt: team.created_at.toISOString() };
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("team_exists", { detail: ctx.body.name });
      throw err;
    }
  });

  r.add(listTeams, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "org", "read");
    return {
      items: (await storeFor(deps, ctx.actor, ctx.signal).listTeams(access.orgId)).map((t) => ({
        id: t.id,
        name: t.name,
        members: t.members,
        boxes: t.boxes,
        createdAt: t.created_at.toISOString(),
      })),
    };
  });

  r.add(listTeamMembers, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "member", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const team = await findTeam(store, access, ctx.params.team);
    return {
      items: (await store.listTeamMembers(team.id)).map((m) => ({
        username: m.username,
        addedAt: m.created_at.toISOString(),
      })),
    };
  });

  r.add(setTeamMember, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "org", "manage");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const team = await findTeam(store, access, ctx.params.team);
    await inTx(deps.pool, async (tx) => {
      const user = await orgMember(store.on(tx), access.orgId, ctx.params.username);
      await store.on(tx).addTeamMember(team.id, user.id);
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "team.member.add",
        target: { kind: "team", id: team.id, name: team.name },
        result: "success",
        details: { username: ctx.params.username },
        at: deps.clock.now(),
      });
    });
    return { team: team.name, username: ctx.params.username };
  });

  r.add(removeTeamMember, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "org", "manage");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const team = await findTeam(store, access, ctx.params.team);
    await inTx(deps.pool, async (tx) => {
      const user = await store.on(tx).getLiveUserByUsername(ctx.params.username);
      if (!user || !(await store.on(tx).removeTeamMember(team.id, user.id)))
        throw new DomainError("user_not_found", {
          detail: `${ctx.params.username} is not on team ${team.name}`,
        });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "team.member.remove",
        target: { kind: "team", id: team.id, name: team.name },
        result: "success",
        details: { username: ctx.params.username },
        at: deps.clock.now(),
      });
    });
    return null;
  });

  r.add(getTeamQuota, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "quota", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const team = await findTeam(store, access, ctx.params.team);
    return { limits: await store.getTeamQuota(team.id), usage: await store.getTeamUsage(team.id) };
  });

  r.add(setTeamQuota, async (ctx) => {
    // Org owners and admins divide their org's quota among its teams.
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "quota", "set");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const team = await findTeam(store, access, ctx.params.team);
    const limits: QuotaLimits = { ...NO_LIMITS, ...ctx.body };
    await inTx(deps.pool, async (tx) => {
      await store.on(tx).setTeamQuota(team.id, limits);
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "team.quota.set",
        target: { kind: "team", id: team.id, name: team.name },
        result: "success",
        details: { ...limits },
        at: deps.clock.now(),
      });
    });
    return { limits, usage: await store.getTeamUsage(team.id) };
  });
}
