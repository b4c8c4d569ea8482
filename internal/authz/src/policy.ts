// The vocabulary of per-method policies: how a store method's arguments
// name the org, box, team or user it touches, and which check guards it.

import type { SystemActorName } from "@boxyard/auth";
import type * as db from "@boxyard/db";
import type { Queryable } from "@boxyard/db";
import type { ErrorCode } from "@boxyard/errors";
import type { Check } from "./checks.ts";
import { OWNER_SCOPED_BOX_ACTIONS, type Resource } from "./permissions.ts";

/** Every export of @boxyard/db that runs a query: `(db: Queryable, ...args) => Promise<...>`. */
export type QueryName = {
  [K in keyof typeof db]: (typeof db)[K] extends (q: Queryable, ...args: never[]) => Promise<unknown>
    ? K
    : never;
}[keyof typeof db];

/** A query's arguments after the Queryable. */
export type QueryArgs<K extends QueryName> = (typeof db)[K] extends (
  q: Queryable,
  ...args: infer A
) => Promise<unknown>
  ? A
  : never;

/** Reads the store makes before a call to find what an id belongs to. Null: no such object. */
export interface Lookup {
  box(id: string): Promise<{ org_id: string; owner_id: string | null } | null>;
  team(id: string): Promise<{ org_id: string } | null>;
  template(id: string): Promise<{ org_id: string } | null>;
  build(id: string): Promise<{ org_id: string } | null>;
  operation(id: string): Promise<{ org_id: string } | null>;
  session(id: string): Promise<{ user_id: string } | null>;
  secret(id: string): Promise<{ org_id: string; scope: string; user_id: string | null } | null>;
  orgHasMembers(orgId: string): Promise<boolean>;
}

export interface Policy<A extends unknown[]> {
  /**
   * The check a user's call passes, as coverage accounting names it:
   * "box.read", "box.*" (an action picked from the arguments), "self",
   * "site-admin", "open", or "system" for methods no user may call.
   */
  needs: string;
  /** System actors that may call the method. */
  systems: readonly SystemActorName[];
  /** Derives a user's check from the call; absent for system-only methods. */
  user?: (args: A, look: Lookup) => Promise<Check> | Check;
  /** Open to every actor, users and system actors alike. */
  open?: string;
}

type Pick1<A extends unknown[]> = (args: A) => string;

/** A permission in the org the arguments name. */
export function inOrg<A extends unknown[]>(
  resource: Resource,
  action: string,
  notFound: ErrorCode,
  orgOf: Pick1<A>,
  systems: readonly SystemActorName[] = [],
): Policy<A> {
  return {
    needs: `${resource}.${action}`,
    systems,
    user: (a) => ({ kind: "org", orgId: orgOf(a), resource, action, notFound }),
  };
}

/**
 * A box action on the box the arguments name, resolved to its org and owner.
 * `action` may depend on the arguments (a desired state, an operation kind).
 */
export function onBox<A extends unknown[]>(
  action: string | ((a: A) => string),
  boxOf: Pick1<A>,
  systems: readonly SystemActorName[] = [],
  notFound: ErrorCode = "box_not_found",
): Policy<A> {
  return {
    needs: typeof action === "string" ? `box.${action}` : "box.*",
    systems,
    user: async (a, look) => {
      const box = await look.box(boxOf(a));
      if (!box) return { kind: "absent", what: "box" };
      const act = typeof action === "string" ? action : action(a);
      return {
        kind: "org",
        orgId: box.org_id,
        resource: "box",
        action: act,
        ...(OWNER_SCOPED_BOX_ACTIONS.has(act) ? { ownerId: box.owner_id } : {}),
        notFound,
      };
    },
  };
}

type Parent = "team" | "template" | "build" | "operation";
const PARENT_NOT_FOUND: Record<Parent, ErrorCode> = {
  team: "team_not_found",
  template: "template_not_found",
  build: "template_not_found",
  operation: "operation_not_found",
};

/** A permission in the org that owns the team, template, build or operation the arguments name. */
export function via<A extends unknown[]>(
  parent: Parent,
  resource: Resource,
  action: string,
  idOf: Pick1<A>,
  systems: readonly SystemActorName[] = [],
): Policy<A> {
  const notFound = PARENT_NOT_FOUND[parent];
  return {
    needs: `${resource}.${action}`,
    systems,
    user: async (a, look) => {
      const row = await look[parent](idOf(a));
      if (!row) return { kind: "absent", what: parent };
      return { kind: "org", orgId: row.org_id, resource, action, notFound };
    },
  };
}

/** The caller's own records; site admins may act for any user. */
export function self<A extends unknown[]>(
  userOf: Pick1<A>,
  notFound: ErrorCode,
  systems: readonly SystemActorName[] = [],
): Policy<A> {
  return { needs: "self", systems, user: (a) => ({ kind: "self", userId: userOf(a), notFound }) };
}

export function siteAdmin<A extends unknown[]>(
  what: string,
  systems: readonly SystemActorName[] = [],
): Policy<A> {
  return { needs: "site-admin", systems, user: () => ({ kind: "site-admin", what }) };
}

/** No user may call it; only these system actors. */
export function systemOnly<A extends unknown[]>(...systems: SystemActorName[]): Policy<A> {
  return { needs: "system", systems };
}

/** Any actor; `why` is the argument that this is safe, and is required. */
export function open<A extends unknown[]>(why: string): Policy<A> {
  return { needs: "open", systems: [], open: why, user: () => ({ kind: "open", why }) };
}
