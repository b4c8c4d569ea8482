import type { ErrorCode } from "@boxyard/errors";
import type { z } from "zod";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * One API route, described once: the server registers its handler against it,
 * the OpenAPI document is generated from it, and the SDK types come from it.
 */
export interface RouteDef<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  operationId: string;
  method: HttpMethod;
  /** Fastify-style path with `:param` segments. */
  path: string;
  summary: string;
  tags: string[];
  /** `token`: a bearer API token (or session) is required. */
  auth: "none" | "token";
  params?: P;
  query?: Q;
  body?: B;
  /** Status of the success response and its body schema. */
  successStatus: 200 | 201 | 202 | 204;
  response: R;
  /** Error codes this route can answer with, besides the generic ones. */
  errors?: ErrorCode[];
  /** Response content type when it is not JSON (e.g. text/plain for metrics). */
  contentType?: string;
  /**
   * Body fields holding secret values: whatever the server keeps about the
   * request (the Idempotency-Key's request hash) sees a keyed fingerprint
   * of them, never the value or a plain hash of it.
   */
  secretFields?: readonly string[];
}

export function defineRoute<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R extends z.ZodType,
>(def: RouteDef<P, Q, B, R>): RouteDef<P, Q, B, R> {
  return def;
}

/** `/api/v1/orgs/:org` -> `/api/v1/orgs/{org}` */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}
