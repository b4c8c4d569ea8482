import { authorizeOrg } from "@boxyard/authz";
import {
  createOrg,
  getOrg,
  listOrgMembers,
  listOrgs,
  removeOrgMember,
  setOrgMember,
} from "@boxyard/contract";
import { inTx, type OrgWithRoleRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { isUniqueViolation } from "./users.ts";

type Role = "owner" | "admin" | "member" | "viewer" | "auditor";

function orgView(o: OrgWithRoleRow) {
  return {
    id: o.id,
    name: o.name,
    createdAt: o.created_at.toISOString(),
    role: (o.role as Role | null) ?? null,
  };
}

export function registerOrgRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(createOrg, async (ctx) => {
    const user = ctx.actor.user;
    try {
      return await inTx(deps.pool, async (tx) => {
        const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
        const org = await store.insertOrg({ id: deps.ids.newId("org"), name: ctx.body.name });
        await store.upsertOrgMember({ orgId: org.id, userId: user.id, role: "owner" });
        await auditFor(tx, ctx, {
          orgId: org.id,
          action: "org.create",
          target: { kind: "org", id: org.id, name: org.name },
          result: "success",
          at: deps.clock.now(),
        });
        return orgView({ ...org, role: "owner" });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("org_exists", { detail: ctx.body.name });
      throw err;
    }
  });

  r.add(listOrgs, async (ctx) => ({
    items: (
      await storeFor(deps, ctx.actor, ctx.signal).listOrgsForUser(ctx.actor.user.id, {
        all: ctx.actor.user.site_admin,
      })
    ).map(orgView),
  }));

  r.add(getOrg, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "org", "read");
    const org = await storeFor(deps, ctx.actor, ctx.signal).getOrgWithRole(access.orgId, ctx.actor.user.id);
    if (!org) throw new DomainError("org_not_found", { detail: ctx.params.org });
    return orgView(org);
  });

  r.add(listOrgMembers, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "member", "read");
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listOrgMembersByOrg(access.orgId);
    return {
      items: rows.map((m) => ({
        org: m.org_name,
        username: m.username,
        role: m.role as Role,
        createdAt: m.created_at.toISOString(),
      })),
    };
  });

  r.add(setOrgMember, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "member", "set");
    // Only owners make owners; admins manage everyone else.
    if (ctx.body.role === "owner" && access.role !== "owner") {
      throw new DomainError("forbidden", {
        detail: "only an owner may make another owner",
        audit: {
          orgId: access.orgId,
          action: "org.member.set",
          target: { kind: "user", name: ctx.params.username },
        },
      });
    }
    return inTx(deps.pool, async (tx) => {
      const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
      const user = await store.getLiveUserByUsername(ctx.params.username);
      if (!user) throw new DomainError("user_not_found", { detail: ctx.params.username });
      const m = await store.upsertOrgMember({ orgId: access.orgId, userId: user.id, role: ctx.body.role });
      if ((await store.countOrgOwners(access.orgId)) === 0) {
        throw new DomainError("forbidden", {
          detail: "an organisation must keep at least one owner",
          audit: {
            orgId: access.orgId,
            action: "org.member.set",
            target: { kind: "user", name: user.username },
          },
        });
      }
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "org.member.set",
        target: { kind: "user", id: user.id, name: user.username },
        result: "success",
        details: { role: ctx.body.role },
        at: deps.clock.now(),
      });
      return {
        org: access.orgName,
        username: user.username,
        role: m.role as Role,
        createdAt: m.created_at.toISOString(),
      };
    });
  });

  r.add(removeOrgMember, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "member", "set");
    const denied = (detail: string, user: { id?: string; username: string }) =>
      new DomainError("forbidden", {
        detail,
        audit: {
          orgId: access.orgId,
          action: "org.member.remove",
          target: { kind: "user", ...(user.id ? { id: user.id } : {}), name: user.username },
        },
      });
    await inTx(deps.pool, async (tx) => {
      const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
      const user = await store.getLiveUserByUsername(ctx.params.username);
      if (!user) throw new DomainError("user_not_found", { detail: ctx.params.username });
      const role = await store.deleteOrgMember(access.orgId, user.id);
      if (role === null)
        throw new DomainError("user_not_found", {
          detail: `${user.username} is not a member of ${access.orgName}`,
        });
      // Only owners remove owners; an org keeps at least one (both undone with the transaction).
      if (role === "owner" && access.role !== "owner")
        throw denied("only an owner may remove another owner", user);
      if ((await store.countOrgOwners(access.orgId)) === 0)
        throw denied("an organisation must keep at least one owner", user);
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "org.member.remove",
        target: { kind: "user", id: user.id, name: user.username },
        result: "success",
        details: { role },
        at: deps.clock.now(),
      });
    });
    return null;
  });
}
