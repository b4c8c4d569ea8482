import { authenticateBearer } from "@boxyard/auth";
import type { RouteDef } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { ApiDeps, RequestContext } from "./context.ts";

/** The parsed type of an optional schema; routes without one get `unknown`. */
type Out<S> = z.output<NonNullable<S> extends z.ZodType ? NonNullable<S> : z.ZodUnknown>;

export type Handler<R extends RouteDef> = (
  ctx: RequestContext<Out<R["params"]>, Out<R["query"]>, Out<R["body"]>>,
  reply: FastifyReply,
) => Promise<z.input<R["response"]>>;

/** Turns zod issues into the `errors` list of a validation_failed problem. */
function validationError(where: "body" | "path" | "query", error: z.ZodError): DomainError {
  const errors = error.issues.map((i) => ({
    location: where,
    path: i.path.map(String).join("."),
    message: i.message,
    ...(i.code === "unrecognized_keys" ? { keys: (i as { keys: string[] }).keys } : {}),
  }));
  const first = errors[0];
  const detail = first
    ? `${where}${first.path ? `.${first.path}` : ""}: ${first.message}`
    : `invalid ${where}`;
  return new DomainError("validation_failed", { detail, extensions: { errors } });
}

function parseWith<S extends z.ZodType | undefined>(
  schema: S,
  value: unknown,
  where: "body" | "path" | "query",
): unknown {
  if (!schema) return where === "body" ? undefined : {};
  const r = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

/**
 * Registers a handler for a contract route. Validation of path, query and
 * body (unknown fields rejected by the strict schemas), authentication, and
 * response shaping happen here, once, for every route.
 */
export function registerRoute<R extends RouteDef>(
  app: FastifyInstance,
  deps: ApiDeps,
  route: R,
  handler: Handler<R>,
  registered: Set<string>,
): void {
  registered.add(route.operationId);
  app.route({
    method: route.method,
    url: route.path,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const actor =
        route.auth === "token"
          ? await authenticateBearer(deps.pool, req.headers.authorization, deps.clock)
          : undefined;
      if (route.body && req.body === undefined && route.method !== "GET") {
        // No body at all: treat as an empty object so optional-only bodies work.
        (req as { body: unknown }).body = {};
      }
      const ctx = {
        params: parseWith(route.params, req.params, "path"),
        query: parseWith(route.query, req.query, "query"),
        body: parseWith(route.body, req.body, "body"),
        actor,
        requestId: req.id,
        ip: req.ip,
        headers: req.headers,
      } as Parameters<Handler<R>>[0];
      const result = await handler(ctx, reply);
      reply.code(route.successStatus);
      if (route.successStatus === 204) return reply.send();
      if (route.contentType) return reply.type(route.contentType).send(result);
      // Parsing the response through its schema strips anything the contract
      // does not name, so a handler cannot leak a column by accident.
      return reply.send(route.response.parse(result));
    },
  });
}
