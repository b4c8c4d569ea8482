// The authorized store: every query of @boxyard/db, bound to one actor.
// Each call derives its check from the method's policy (policies.ts), asks
// the authorizer, and only then runs the query, so a denied call executes
// no statement of its own: the only SQL before the decision is the store's
// look-ups of what an id belongs to, each tagged `/* authz */`.

import type { Actor } from "@boxyard/auth";
import * as db from "@boxyard/db";
import type { Queryable } from "@boxyard/db";
import { type Authorizer, type Check, rbacAuthorizer } from "./checks.ts";
import { NoActorError } from "./errors.ts";
import { policies } from "./policies.ts";
import type { Lookup, Policy, QueryArgs, QueryName } from "./policy.ts";

type Bound<K extends QueryName> = (
  ...args: QueryArgs<K>
) => ReturnType<(typeof db)[K] extends (...a: never[]) => infer R ? () => R : never>;

export type StoreMethods = { [K in QueryName]: Bound<K> };

export interface AuthorizedStore extends StoreMethods {
  readonly actor: Actor;
  /** The same actor and authorizer (and its cached roles) on another connection: a transaction's client. */
  on(q: Queryable): AuthorizedStore;
}

export interface StoreOptions {
  /** The production default is rbacAuthorizer(); tests pass recording or denying ones. */
  authorizer?: Authorizer;
  /** A cancelled request makes no further queries. */
  signal?: AbortSignal;
}

/** The names of every query the store wraps, in policy order. */
export const STORE_METHODS = Object.keys(policies) as QueryName[];

export function authorizedStore(
  q: Queryable,
  actor: Actor | null | undefined,
  opts: StoreOptions = {},
): AuthorizedStore {
  const authorizer = opts.authorizer ?? rbacAuthorizer();
  const build = (conn: Queryable): AuthorizedStore => {
    const look = lookups(conn);
    const store = {
      actor: actor as Actor,
      on: (other: Queryable) => build(other),
    } as Record<string, unknown>;
    for (const name of STORE_METHODS) {
      const policy = policies[name] as Policy<unknown[]>;
      const query = (db as unknown as Record<string, (c: Queryable, ...a: unknown[]) => Promise<unknown>>)[
        name
      ]!;
      store[name] = async (...args: unknown[]) => {
        if (!actor) throw new NoActorError(name);
        opts.signal?.throwIfAborted();
        const check = await checkFor(name, policy, actor, args, look);
        await authorizer.authorize(actor, check, conn);
        opts.signal?.throwIfAborted();
        return query(conn, ...args);
      };
    }
    return store as unknown as AuthorizedStore;
  };
  return build(q);
}

async function checkFor(
  method: string,
  policy: Policy<unknown[]>,
  actor: Actor,
  args: unknown[],
  look: Lookup,
): Promise<Check> {
  if (policy.open !== undefined) return { kind: "open", why: policy.open };
  if (actor.kind === "system" || !policy.user) return { kind: "system", method, allowed: policy.systems };
  return policy.user(args, look);
}

function lookups(q: Queryable): Lookup {
  const one = async <T>(sql: string, id: string): Promise<T | null> => {
    const { rows } = await q.query(`/* authz */ ${sql}`, [id]);
    return (rows[0] as T | undefined) ?? null;
  };
  return {
    box: (id) => one(`SELECT org_id, owner_id FROM boxes WHERE id = $1`, id),
    team: (id) => one(`SELECT org_id FROM teams WHERE id = $1`, id),
    template: (id) => one(`SELECT org_id FROM templates WHERE id = $1`, id),
    build: (id) =>
      one(
        `SELECT t.org_id FROM template_builds b JOIN templates t ON t.id = b.template_id WHERE b.id = $1`,
        id,
      ),
    operation: (id) => one(`SELECT org_id FROM operations WHERE id = $1`, id),
    session: (id) => one(`SELECT user_id FROM sessions WHERE id = $1`, id),
    secret: (id) => one(`SELECT org_id, scope, user_id FROM secrets WHERE id = $1`, id),
    orgHasMembers: async (orgId) =>
      (await one(`SELECT 1 AS x FROM org_members WHERE org_id = $1 LIMIT 1`, orgId)) !== null,
  };
}
