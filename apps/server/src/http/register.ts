import { recordAudit } from "@boxyard/audit";
import { authenticateRequest, type UserActor } from "@boxyard/auth";
import { authorizedStore } from "@boxyard/authz";
import { inTx } from "@boxyard/db";
import type { RouteDef } from "@boxyard/contract";
import { DomainError, isDomainError } from "@boxyard/errors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { ApiDeps, RequestContext } from "./context.ts";
import { withIdempotency } from "./idempotency.ts";

/** Methods whose requests honour an Idempotency-Key header. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["POST", "DELETE"]);

/** The parsed type of an optional schema; routes without one get `unknown`. */
type Out<S> = z.output<NonNullable<S> extends z.ZodType ? NonNullable<S> : z.ZodUnknown>;

export type Handler<R extends RouteDef> = (
  ctx: RequestContext<Out<R["params"]>, Out<R["query"]>, Out<R["body"]>>,
  reply: FastifyReply,
) => Promise<z.input<R["response"]>>;

/**
 * The body as the idempotency record may see it: secret fields replaced by
 * a fingerprint keyed with the secrets master key (or left out without one).
 */
function withoutSecretValues(route: RouteDef, body: unknown, deps: ApiDeps): unknown {
  if (!route.secretFields || !body || typeof body !== "object") return body;
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const f of route.secretFields) {
    const v = out[f];
    if (typeof v === "string" && deps.secrets) out[f] = { fingerprint: deps.secrets.fingerprint(v) };
    else delete out[f];
  }
  return out;
}

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

/** A signal aborted (request_cancelled) if the connection closes before the response has been sent. */
export function cancelledWhenClientLeaves(reply: FastifyReply): AbortSignal {
  const ctl = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished)
      ctl.abort(new DomainError("request_cancelled", { detail: "the client went away before the answer" }));
  });
  return ctl.signal;
}

/**
 * Lets this request's connection stay quiet (no byte either way) for up to
 * `ms`, beyond the server's idle timeout: for a handler whose answer may rightly
 * take longer (an exec runs up to its own timeout). Without it the socket was
 * closed under the waiting client ("other side closed") after 60 s.
 */
export function holdConnection(reply: FastifyReply, ms: number): void {
  reply.raw.setTimeout(ms);
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
        route.auth === "token" ? await authenticateRequest(deps.pool, req, deps.clock) : undefined;
      if (actor && deps.rateLimiter) {
        const r = deps.rateLimiter.take(actor.tokenId ?? actor.sessionId ?? actor.user.id);
        if (!r.ok) {
          throw new DomainError("rate_limited", {
            detail: `this token sent too many requests; retry in ${r.retryAfterS} s`,
            headers: { "retry-after": String(r.retryAfterS) },
          });
        }
      }
      if (route.body && req.body === undefined && route.method !== "GET") {
        // No body at all: treat as an empty object so optional-only bodies work.
        (req as { body: unknown }).body = {};
      }
      const ctx = {
        signal: route.method === "GET" ? cancelledWhenClientLeaves(reply) : undefined,
        params: parseWith(route.params, req.params, "path"),
        query: parseWith(route.query, req.query, "query"),
        body: parseWith(route.body, req.body, "body"),
        actor,
        requestId: req.id,
        ip: req.ip,
        headers: req.headers,
      } as Parameters<Handler<R>>[0];
      const execute = async () => {
        const result = await handler(ctx, reply);
        // A handler that took over the socket (Server-Sent Events) has answered already.
        if (reply.sent) return undefined;
        // Parsing the response through its schema strips anything the contract
        // does not name, so a handler cannot leak a column by accident.
        const body =
          route.successStatus === 204 ? undefined : route.contentType ? result : route.response.parse(result);
        return { status: route.successStatus as number, body };
      };
      const key = req.headers["idempotency-key"];
      let out: Awaited<ReturnType<typeof execute>> | { status: number; body: unknown; replayed?: boolean };
      try {
        out =
          typeof key === "string" && actor && IDEMPOTENT_METHODS.has(route.method)
            ? await withIdempotency(
                authorizedStore(deps.pool, actor),
                {
                  userId: actor.user.id,
                  key,
                  method: route.method,
                  path: req.url,
                  body: withoutSecretValues(route, ctx.body, deps),
                },
                execute,
              )
            : await execute();
      } catch (err) {
        if (actor && isDomainError(err) && err.audit) await auditDenial(deps, actor, req, err);
        throw err;
      }
      if (!out) return;
      if ("replayed" in out && out.replayed) reply.header("idempotency-replayed", "true");
      reply.code(out.status);
      if (out.status === 204) return reply.send();
      if (route.contentType) return reply.type(route.contentType).send(out.body);
      return reply.send(out.body);
    },
  });
}

/**
 * Every denial is attributable: it goes to the audit chain of the org it was
 * about (or the site chain), in its own transaction since the request's
 * own work rolled back. A failure to write it is logged, not shown.
 */
async function auditDenial(
  deps: ApiDeps,
  actor: UserActor,
  req: FastifyRequest,
  err: DomainError,
): Promise<void> {
  const a = err.audit!;
  try {
    await inTx(deps.pool, (tx) =>
      recordAudit(tx, {
        orgId: a.orgId,
        actor: { kind: "user", id: actor.user.id, name: actor.user.username },
        action: a.action,
        ...(a.target ? { target: a.target } : {}),
        result: "denied",
        requestId: req.id,
        sourceIp: req.ip,
        details: { reason: err.detail ?? err.title },
        at: deps.clock.now(),
      }),
    );
  } catch (auditErr) {
    req.log.error({ err: auditErr }, "could not record a denial in the audit log");
  }
}
