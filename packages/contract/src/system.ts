import { z } from "zod";
import { defineRoute } from "./route.ts";

export const Health = z.object({ status: z.literal("ok") }).meta({ id: "Health" });

export const Readiness = z
  .object({
    ready: z.boolean(),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
  })
  .meta({ id: "Readiness" });

export const healthz = defineRoute({
  operationId: "healthz",
  method: "GET",
  path: "/healthz",
  summary: "Liveness: the process is up",
  tags: ["system"],
  auth: "none",
  successStatus: 200,
  response: Health,
});

export const readyz = defineRoute({
  operationId: "readyz",
  method: "GET",
  path: "/readyz",
  summary: "Readiness: database reachable, migrations applied, components up (503 otherwise)",
  tags: ["system"],
  auth: "none",
  successStatus: 200,
  response: Readiness,
  errors: ["not_ready"],
});

export const metrics = defineRoute({
  operationId: "metrics",
  method: "GET",
  path: "/metrics",
  summary: "Prometheus metrics",
  tags: ["system"],
  auth: "none",
  successStatus: 200,
  response: z.string(),
  contentType: "text/plain; version=0.0.4",
});

export const openapi = defineRoute({
  operationId: "openapi",
  method: "GET",
  path: "/api/v1/openapi.json",
  summary: "This API's OpenAPI 3.1 document",
  tags: ["system"],
  auth: "none",
  successStatus: 200,
  response: z.record(z.string(), z.unknown()),
});

export const ServerInfo = z
  .object({
    version: z.string(),
    /** Where the SSH gateway listens, and its host key (so clients can pin it). */
    sshGateway: z.object({ host: z.string(), port: z.int(), hostKey: z.string() }).nullable(),
    /** Whether browser sign-in through an identity provider is configured. */
    oidc: z.boolean(),
  })
  .meta({ id: "ServerInfo" });

export const serverInfo = defineRoute({
  operationId: "serverInfo",
  method: "GET",
  path: "/api/v1/info",
  summary: "Server version, SSH gateway address and host key",
  tags: ["system"],
  auth: "token",
  successStatus: 200,
  response: ServerInfo,
});
