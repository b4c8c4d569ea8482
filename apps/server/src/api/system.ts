import { allRoutes, buildOpenApiDocument, healthz, metrics, openapi, readyz } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import type { RouteRegistrar } from "./registrar.ts";

export const SERVER_VERSION = "0.1.0";

export function registerSystemRoutes(r: RouteRegistrar): void {
  const { deps } = r;
  r.add(healthz, async () => ({ status: "ok" as const }));

  r.add(readyz, async (_ctx, reply) => {
    const checks: Record<string, { ok: boolean; detail?: string }> = {};
    await Promise.all(
      [...deps.readiness].map(async ([name, check]) => {
        try {
          checks[name] = await check();
        } catch (err) {
          checks[name] = { ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    const ready = Object.values(checks).every((c) => c.ok);
    if (!ready) {
      // Still the Readiness shape, so probes and people see which check failed.
      reply.header("retry-after", "1");
      throw new DomainError("not_ready", {
        detail: Object.entries(checks)
          .filter(([, c]) => !c.ok)
          .map(([n, c]) => `${n}: ${c.detail ?? "not ready"}`)
          .join("; "),
        extensions: { ready, checks },
      });
    }
    return { ready, checks };
  });

  r.add(metrics, async () => deps.metrics.metrics());

  let doc: unknown;
  r.add(openapi, async () => {
    doc ??= buildOpenApiDocument(allRoutes, { title: "Boxyard API", version: SERVER_VERSION });
    return doc as Record<string, unknown>;
  });
}
