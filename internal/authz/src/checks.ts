// What the authorized store asks before a query runs, and the authorizer
// that answers from the permissions table. The store never compares roles
// itself: it derives checks from a method's policy and the call's arguments
// and hands each to an Authorizer, so tests can swap in one that records or
// denies everything.

import type { Actor, SystemActorName } from "@boxyard/auth";
import type { Queryable } from "@boxyard/db";
import type { ErrorCode } from "@boxyard/errors";
import { NotAuthorized } from "./errors.ts";
import { type OrgRole, type Resource, roleAllows } from "./permissions.ts";

export type Check =
  /** A permission in one org; an owner-scoped one (a member's own box or secret) also names the owner. */
  | {
      kind: "org";
      orgId: string;
      resource: Resource;
      action: string;
      ownerId?: string | null;
      /** What a caller who cannot see the org is told (404, never 403). */
      notFound: ErrorCode;
    }
  /** The call is about the caller's own records (tokens, sessions, keys); site admins may act for anyone. */
  | { kind: "self"; userId: string; notFound: ErrorCode }
  /** Operator-only: site admins. */
  | { kind: "site-admin"; what: string }
  /** Only the named system actors may call this method. */
  | { kind: "system"; method: string; allowed: readonly SystemActorName[] }
  /** The object the call names does not exist: the query finds nothing, so there is nothing to protect. */
  | { kind: "absent"; what: string }
  /** Deliberately open to every actor; `why` says what makes that safe. */
  | { kind: "open"; why: string };

/** How a check is named in coverage accounting: "box.read", "self", "site-admin", "system", "open". */
export function checkLabel(c: Check): string {
  return c.kind === "org" ? `${c.resource}.${c.action}` : c.kind;
}

export interface Authorizer {
  /** Resolves if `actor` passes `check`; throws NotAuthorized otherwise. `db` answers role look-ups. */
  authorize(actor: Actor, check: Check, db: Queryable): Promise<void>;
}

/**
 * The production authorizer: org roles from org_members, evaluated against
 * the permissions table. One instance serves one store (one request or one
 * loop iteration), so it caches the roles it has looked up.
 */
export function rbacAuthorizer(): Authorizer {
  const roles = new Map<string, OrgRole>();
  async function roleIn(
    db: Queryable,
    actor: Actor & { kind: "user" },
    orgId: string,
  ): Promise<OrgRole | null> {
    const cached = roles.get(orgId);
    if (cached) return cached;
    const { rows } = await db.query<{ role: OrgRole | null; org: boolean }>(
      `/* authz */ SELECT m.role, true AS org FROM orgs o
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2
        WHERE o.id = $1`,
      [orgId, actor.user.id],
    );
    const row = rows[0];
    let role: OrgRole | null = row?.role ?? null;
    // Site admins who are not members act as owners of any org that exists.
    if (row && !role && actor.user.site_admin) role = "owner";
    // Only positive answers are cached: a founding owner becomes a member within the same request.
    if (role) roles.set(orgId, role);
    return role;
  }
  return {
    async authorize(actor, check, db) {
      if (check.kind === "system") {
        if (actor.kind === "system" && check.allowed.includes(actor.name)) return;
        throw new NotAuthorized("forbidden", `${describe(actor)} may not call ${check.method}`);
      }
      if (check.kind === "absent" || check.kind === "open") return;
      if (actor.kind !== "user")
        throw new NotAuthorized("forbidden", `${describe(actor)} acts only through its own methods`);
      const user = actor.user;
      switch (check.kind) {
        case "site-admin":
          if (user.site_admin) return;
          throw new NotAuthorized("forbidden", `${check.what} is for site admins`);
        case "self":
          if (user.id === check.userId || user.site_admin) return;
          throw new NotAuthorized(check.notFound, "not yours");
        case "org": {
          const role = await roleIn(db, actor, check.orgId);
          if (!role) throw new NotAuthorized(check.notFound, "not visible to you");
          if (!roleAllows(role, check.resource, check.action as never))
            throw new NotAuthorized("forbidden", `role ${role} may not ${check.action} ${check.resource}`, {
              orgId: check.orgId,
              action: `${check.resource}.${check.action}`,
            });
          // Owner-scoped: below owner and admin, members act only on what they own.
          if (
            check.ownerId !== undefined &&
            role !== "owner" &&
            role !== "admin" &&
            check.ownerId !== user.id
          )
            throw new NotAuthorized(
              "forbidden",
              `only the ${check.resource}'s owner or an org admin may do this`,
              {
                orgId: check.orgId,
                action: `${check.resource}.${check.action}`,
              },
            );
          return;
        }
        default: {
          const never: never = check;
          throw new Error(`unknown check ${JSON.stringify(never)}`);
        }
      }
    },
  };
}

function describe(actor: Actor): string {
  return actor.kind === "system" ? `system actor ${actor.name}` : `user ${actor.user.username}`;
}
