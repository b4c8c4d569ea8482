import { DomainError, PROBLEM_CONTENT_TYPE, toProblem } from "@boxyard/errors";
import type { FastifyError, FastifyInstance } from "fastify";

/** Fastify's own errors (parsing, limits) mapped onto the catalogue. */
function fromFastify(err: FastifyError): DomainError | undefined {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new DomainError("payload_too_large", { detail: "the body limit is 1 MiB" });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new DomainError("unsupported_media_type", { detail: "send Content-Type: application/json" });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new DomainError("invalid_json", { detail: "the body is empty" });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new DomainError("invalid_json", { detail: err.message });
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new DomainError("validation_failed", { detail: "Content-Length does not match the body" });
    default:
      break;
  }
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return new DomainError("invalid_json", { detail: err.message });
  }
  if (err.statusCode === 413) return new DomainError("payload_too_large");
  if (err.statusCode === 415) return new DomainError("unsupported_media_type");
  return undefined;
}

/** Every error leaves as problem+json; unexpected ones are logged with the request id and hidden. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const domain = err instanceof DomainError ? err : fromFastify(err);
    if (!domain) req.log.error({ err }, "unhandled error");
    else if (domain.status >= 500) req.log.warn({ err, code: domain.code }, "request failed");
    const problem = toProblem(domain ?? err, { instance: req.url.split("?")[0], requestId: req.id });
    for (const [k, v] of Object.entries(domain?.headers ?? {})) reply.header(k, v);
    reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });

  app.setNotFoundHandler((req, reply) => {
    const problem = toProblem(
      new DomainError("route_not_found", { detail: `${req.method} ${req.url.split("?")[0]}` }),
      {
        requestId: req.id,
      },
    );
    reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
}
