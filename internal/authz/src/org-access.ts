import type { Actor } from "@boxyard/auth";
import type { Queryable } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { type Action, type OrgRole, type Resource, roleAllows } from "./permissions.ts";

export interface OrgAccess {
  orgId: string;
  orgName: string;
  /** The caller's role; site admins who are not members act as "owner". */
  role: OrgRole;
}

/**
 * Resolves an org by name for an actor and checks one permission. An org the
 * actor cannot see is `org_not_found` (404), never 403, so names of other
 * tenants' orgs do not leak; a visible org with a missing permission is 403.
 */
export async function authorizeOrg<R extends Resource>(
  db: Queryable,
  actor: Actor,
  orgName: string,
  resource: R,
  action: Action<R>,
): Promise<OrgAccess> {
  const { rows } = await db.query<{ id: string; name: string; role: OrgRole | null }>(
    `SELECT o.id, o.name, m.role
       FROM orgs o LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2
      WHERE o.name = $1`,
    [orgName, actor.kind === "user" ? actor.user.id : ""],
  );
  const row = rows[0];
  let role: OrgRole | null = row?.role ?? null;
  if (row && !role && actor.kind === "user" && actor.user.site_admin) role = "owner";
  if (row && actor.kind === "system") role = "owner";
  if (!row || !role) throw new DomainError("org_not_found", { detail: orgName });
  if (!roleAllows(role, resource, action)) {
    throw new DomainError("forbidden", {
      detail: `role ${role} may not ${String(action)} ${resource}`,
      audit: { orgId: row.id, action: `${resource}.${String(action)}` },
    });
  }
  return { orgId: row.id, orgName: row.name, role };
}

/** For owner-scoped actions: members act only on what they own. */
export function assertOwnsOrPrivileged(
  access: OrgAccess,
  actor: Actor,
  ownerId: string,
  action = "box.act",
  target?: { kind: string; id?: string; name?: string },
): void {
  if (access.role === "owner" || access.role === "admin") return;
  if (actor.kind === "user" && actor.user.id === ownerId) return;
  throw new DomainError("forbidden", {
    detail: "only the box's owner or an org admin may do this",
    audit: { orgId: access.orgId, action, ...(target ? { target } : {}) },
  });
}
