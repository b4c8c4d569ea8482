import type { Actor } from "@boxyard/auth";
import { type AuthorizedStore, authorizedStore } from "@boxyard/authz";
import type { ApiDeps } from "../http/context.ts";

/**
 * The queries a route may run, as its caller: every call is checked against
 * the permissions table at the data-access boundary (B2), on top of the
 * route's own authorizeOrg, and a caller who cannot see an object's org gets
 * its 404. Use `.on(tx)` inside a transaction. With the request's signal (GET
 * routes), a client that went away stops the queries still to come.
 */
export function storeFor(deps: Pick<ApiDeps, "pool">, actor: Actor, signal?: AbortSignal): AuthorizedStore {
  return authorizedStore(deps.pool, actor, { signal });
}
