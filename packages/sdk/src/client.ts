import type { RouteDef } from "@boxyard/contract";
import type { z } from "zod";

/** A problem+json answer from the server, as an exception. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly problem: Record<string, unknown>;

  constructor(status: number, problem: Record<string, unknown>) {
    const title = typeof problem.title === "string" ? problem.title : `HTTP ${status}`;
    const detail = typeof problem.detail === "string" ? problem.detail : undefined;
    super(detail ? `${title}: ${detail}` : title);
    this.name = "ApiError";
    this.status = status;
    this.code = typeof problem.code === "string" ? problem.code : "unknown";
    this.title = title;
    this.detail = detail;
    this.problem = problem;
  }
}

/** The server could not be reached at all. */
export class ConnectionError extends Error {
  readonly code = "connection_failed";
}

type Input<S> = NonNullable<S> extends z.ZodType ? z.input<NonNullable<S>> : undefined;

export interface CallInput<R extends RouteDef> {
  params?: Input<R["params"]>;
  query?: Input<R["query"]>;
  body?: Input<R["body"]>;
  /** Sent as Idempotency-Key so a retried POST returns the first result. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ClientOptions {
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
  userAgent?: string;
}

/** Builds `/api/v1/orgs/acme/boxes` from `/api/v1/orgs/:org/boxes` and `{ org: "acme" }`. */
export function buildPath(path: string, params: Record<string, unknown> = {}): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined || v === null) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(v));
  });
}

/**
 * A typed client over the contract's route definitions: the CLI, the web
 * app and the tests all call the API through it, so they agree with the
 * server by construction.
 */
export class BoxyardClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #userAgent: string;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.#token = opts.token;
    this.#fetch = opts.fetch ?? fetch;
    this.#userAgent = opts.userAgent ?? "boxyard-sdk";
  }

  url(route: RouteDef, params?: Record<string, unknown>, query?: Record<string, unknown>): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) qs.set(k, String(v));
    const q = qs.toString();
    return `${this.baseUrl}${buildPath(route.path, params)}${q ? `?${q}` : ""}`;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      "user-agent": this.#userAgent,
      ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
      ...extra,
    };
  }

  async call<R extends RouteDef>(route: R, input: CallInput<R> = {}): Promise<z.output<R["response"]>> {
    const headers = this.headers(input.idempotencyKey ? { "idempotency-key": input.idempotencyKey } : {});
    let body: string | undefined;
    if (input.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(input.body);
    }
    let res: Response;
    try {
      res = await this.#fetch(
        this.url(route, input.params as Record<string, unknown>, input.query as Record<string, unknown>),
        { method: route.method, headers, body, ...(input.signal ? { signal: input.signal } : {}) },
      );
    } catch (err) {
      throw new ConnectionError(
        `cannot reach ${this.baseUrl}: ${(err as Error).cause ?? (err as Error).message}`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let problem: Record<string, unknown> = { title: `HTTP ${res.status}` };
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        problem.detail = text.slice(0, 200);
      }
      throw new ApiError(res.status, problem);
    }
    if (route.successStatus === 204 || text === "") return null as z.output<R["response"]>;
    const data: unknown = route.contentType ? text : JSON.parse(text);
    return route.response.parse(data) as z.output<R["response"]>;
  }
}
