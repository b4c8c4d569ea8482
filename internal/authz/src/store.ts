// The authorized store: every query of @boxyard/db, bound to one actor.
// Each call derives its check from the method's policy (policies.ts), asks
// the authorizer, and only then runs the query, so a denied call executes
// no statement of its own: the only SQL before the decision is the store's
// look-ups of what an id belongs to, each tagged `/* authz */`.

import type { Actor } from "@boxyard/auth";
import * as db from "@boxyard/db";
import type { Queryable } from "@boxyard/db";
import pg from "pg";
import { type Authorizer, type Check, rbacAuthorizer } from "./checks.ts";
import { NoActorError } from "./errors.ts";
import { policies } from "./policies.ts";
import type { Lookup, Policy, QueryArgs, QueryName } from "./policy.ts";

type BoundQuery<K extends QueryName> = (
  ...args: QueryArgs<K>
) => ReturnType<(typeof db)[K] extends (...a: never[]) => infer R ? () => R : never>;

export type StoreMethods = { [K in QueryName]: BoundQuery<K> };

export interface AuthorizedStore extends StoreMethods {
  readonly actor: Actor;
  /** The same actor and authorizer (and its cached roles) on another connection: a transaction's client. */
  on(q: Queryable): AuthorizedStore;
  /**
   * Runs `fn` in a transaction (inTx: rolled back on error, retried on
   * deadlock) with the store bound to its client; on a client already, in
   * the transaction that client has open.
   */
  transaction<T>(fn: (tx: AuthorizedStore, client: pg.PoolClient) => Promise<T>): Promise<T>;
}

export interface StoreOptions {
  /** The production default is rbacAuthorizer(); tests pass recording or denying ones. */
  authorizer?: Authorizer;
  /** A cancelled request makes no further queries. */
  signal?: AbortSignal;
}

/** The names of every query the store wraps, in policy order. */
export const STORE_METHODS = Object.keys(policies) as QueryName[];

interface StoreState {
  conn: Queryable;
  actor: Actor | null | undefined;
  authorizer: Authorizer;
  signal: AbortSignal | undefined;
  look: Lookup;
  /** What owned boxes belong to, as looked up; shared by the store's transactions (see lookups). */
  owned: Map<string, OwnedBox>;
}

type OwnedBox = { org_id: string; owner_id: string | null };

/** One prototype holds every method, so binding a store to an actor or a client costs one small object. */
const proto: Record<string, unknown> = {
  on(this: StoreState, other: Queryable) {
    return make({ ...this, conn: other, look: lookups(other, this.owned) });
  },
  transaction<T>(
    this: StoreState,
    fn: (tx: AuthorizedStore, client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    if (!(this.conn instanceof pg.Pool)) {
      const client = this.conn as pg.PoolClient;
      return fn(make({ ...this }), client);
    }
    return db.inTx(this.conn, (client) =>
      fn(make({ ...this, conn: client, look: lookups(client, this.owned) }), client),
    );
  },
};
for (const name of STORE_METHODS) {
  const policy = policies[name] as Policy<unknown[]>;
  const query = (db as unknown as Record<string, (c: Queryable, ...a: unknown[]) => Promise<unknown>>)[name]!;
  proto[name] = async function (this: StoreState, ...args: unknown[]) {
    const { actor, signal } = this;
    if (!actor) throw new NoActorError(name);
    signal?.throwIfAborted();
    const check = await checkFor(name, policy, actor, args, this.look);
    await this.authorizer.authorize(actor, check, this.conn);
    signal?.throwIfAborted();
    return query(this.conn, ...args);
  };
}

function make(b: StoreState): AuthorizedStore {
  return Object.assign(Object.create(proto), {
    conn: b.conn,
    actor: b.actor,
    authorizer: b.authorizer,
    signal: b.signal,
    look: b.look,
    owned: b.owned,
  }) as AuthorizedStore;
}

export function authorizedStore(
  q: Queryable,
  actor: Actor | null | undefined,
  opts: StoreOptions = {},
): AuthorizedStore {
  const owned = new Map<string, OwnedBox>();
  return make({
    conn: q,
    actor,
    authorizer: opts.authorizer ?? rbacAuthorizer(),
    signal: opts.signal,
    look: lookups(q, owned),
    owned,
  });
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

/**
 * The look-ups a policy makes. A box with an owner is looked up once per
 * store (its org never changes, and only a pooled box, ownerless, is ever
 * given an owner), so a request that authorises several calls on one box
 * inside its transaction asks once.
 */
function lookups(q: Queryable, owned: Map<string, OwnedBox>): Lookup {
  const one = async <T>(sql: string, id: string): Promise<T | null> => {
    const { rows } = await q.query(`/* authz */ ${sql}`, [id]);
    return (rows[0] as T | undefined) ?? null;
  };
  return {
    box: async (id) => {
      const known = owned.get(id);
      if (known) return known;
      const box = await one<OwnedBox>(`SELECT org_id, owner_id FROM boxes WHERE id = $1`, id);
      if (box?.owner_id) owned.set(id, box);
      return box;
    },
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
