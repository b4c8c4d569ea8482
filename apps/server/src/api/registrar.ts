import type { RouteDef } from "@boxyard/contract";
import type { FastifyInstance } from "fastify";
import type { ApiDeps } from "../http/context.ts";
import { type Handler, registerRoute } from "../http/register.ts";

/** Collects handlers so start-up can check every contract route has exactly one. */
export class RouteRegistrar {
  readonly registered = new Set<string>();
  constructor(
    readonly app: FastifyInstance,
    readonly deps: ApiDeps,
  ) {}

  add<R extends RouteDef>(route: R, handler: Handler<R>): void {
    if (this.registered.has(route.operationId))
      throw new Error(`route ${route.operationId} registered twice`);
    registerRoute(this.app, this.deps, route, handler, this.registered);
  }

  /** Throws if a contract route has no handler (the OpenAPI document would lie). */
  assertComplete(routes: readonly RouteDef[]): void {
    const missing = routes.filter((r) => !this.registered.has(r.operationId)).map((r) => r.operationId);
    if (missing.length > 0) throw new Error(`contract routes without a handler: ${missing.join(", ")}`);
    const known = new Set(routes.map((r) => r.operationId));
    const extra = [...this.registered].filter((id) => !known.has(id));
    if (extra.length > 0)
      throw new Error(`handlers for routes missing from the contract: ${extra.join(", ")}`);
  }
}
