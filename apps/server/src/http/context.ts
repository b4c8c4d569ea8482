import type { Actor } from "@boxyard/auth";
import type { Clock, IdGen, RateLimiter } from "@boxyard/platform";
import type { SecretKeyring } from "@boxyard/secrets";
import type pg from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

export type ReadinessCheck = () => Promise<{ ok: boolean; detail?: string }>;

/** What route handlers may use. Built once at start-up and passed in, never imported globally. */
export interface ApiDeps {
  pool: pg.Pool;
  clock: Clock;
  ids: IdGen;
  logger: Logger;
  metrics: Registry;
  /** Named readiness checks; /readyz is 200 only when all pass. */
  readiness: Map<string, ReadinessCheck>;
  /** Per-token (or per-session) request budget on the API; absent: unlimited. */
  rateLimiter?: RateLimiter;
  /** The secrets master key (seals values; fingerprints them for idempotency); absent: secrets are refused. */
  secrets?: SecretKeyring;
}

export interface RequestContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Present on `auth: "token"` routes. */
  actor: Actor & { kind: "user" };
  requestId: string;
  ip: string;
  headers: Record<string, string | string[] | undefined>;
  /**
   * Aborted when the client goes away before a GET is answered, so the
   * store runs no more queries for nobody. Never set for changes: a change
   * the client stopped waiting for still completes (nothing half-done).
   */
  signal?: AbortSignal;
}
