import { errorCatalogue } from "@boxyard/errors";
import { z } from "zod";
import { Problem } from "./common.ts";
import { type RouteDef, toOpenApiPath } from "./route.ts";

type JsonSchema = Record<string, unknown>;

/**
 * Builds the OpenAPI 3.1 document from the route definitions. Schemas that
 * carry a `.meta({ id })` become shared components; every other schema is
 * inlined where it is used.
 */
export function buildOpenApiDocument(routes: readonly RouteDef[], info: { title: string; version: string }) {
  const components: Record<string, JsonSchema> = {};

  const convert = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const json = z.toJSONSchema(schema, {
      target: "draft-2020-12",
      io,
      unrepresentable: "any",
    }) as JsonSchema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    delete json.$schema;
    for (const [id, def] of Object.entries(defs)) components[id] = rewriteRefs(def) as JsonSchema;
    const id = z.globalRegistry.get(schema)?.id;
    if (typeof id === "string") {
      components[id] = rewriteRefs(stripMeta(json)) as JsonSchema;
      return { $ref: `#/components/schemas/${id}` };
    }
    return rewriteRefs(json) as JsonSchema;
  };

  const problemRef = convert(Problem, "output");
  const paths: Record<string, Record<string, unknown>> = {};

  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ["path", route.params],
      ["query", route.query],
    ] as const) {
      if (!schema) continue;
      const json = convert(schema, "input");
      const props = (json.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((json.required ?? []) as string[]);
      for (const [name, prop] of Object.entries(props)) {
        parameters.push({ name, in: where, required: where === "path" || required.has(name), schema: prop });
      }
    }

    const responses: Record<string, unknown> = {};
    const contentType = route.contentType ?? "application/json";
    responses[String(route.successStatus)] =
      route.successStatus === 204
        ? { description: "No content" }
        : {
            description: route.summary,
            content: { [contentType]: { schema: convert(route.response, "output") } },
          };
    const errorCodes = new Set<string>(route.errors ?? []);
    if (route.auth === "token") errorCodes.add("unauthorized");
    if (route.body || route.params || route.query) errorCodes.add("validation_failed");
    const byStatus = new Map<number, string[]>();
    for (const code of errorCodes) {
      const status = errorCatalogue[code as keyof typeof errorCatalogue].status;
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
      responses[String(status)] = {
        description: `Error: ${codes.join(", ")}`,
        content: { "application/problem+json": { schema: problemRef } },
      };
    }

    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      tags: route.tags,
      responses,
    };
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: convert(route.body, "input") } },
      };
    }
    if (route.auth === "token") operation.security = [{ bearerAuth: [] }];
    const p = toOpenApiPath(route.path);
    paths[p] = { ...(paths[p] ?? {}), [route.method.toLowerCase()]: operation };
  }

  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "A Boxyard API token" } },
    },
  };
}

function stripMeta(json: JsonSchema): JsonSchema {
  const { id: _id, ...rest } = json;
  return rest;
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] =
        k === "$ref" && typeof v === "string"
          ? v.replace("#/$defs/", "#/components/schemas/")
          : rewriteRefs(v);
    }
    return out;
  }
  return value;
}
