import { countBoxesByActualState, getBoxQueueStats } from "@boxyard/db";
import type pg from "pg";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { ACTUAL_STATES } from "./states.ts";

export interface LifecycleMetrics {
  stateSeconds: Histogram<"state" | "template">;
  reconcileErrors: Counter<"code">;
}

/**
 * Registers the lifecycle metrics. Queue depth, lag and boxes-by-state are
 * read from the database at scrape time, so every replica reports the same
 * numbers and nothing drifts.
 */
export function createLifecycleMetrics(registry: Registry, pool: pg.Pool): LifecycleMetrics {
  const stateSeconds = new Histogram({
    name: "boxyard_box_transient_state_seconds",
    help: "Time boxes spent in each transient state, by template",
    labelNames: ["state", "template"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: "boxyard_reconcile_errors_total",
    help: "Failed reconcile attempts by error code",
    labelNames: ["code"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "boxyard_reconcile_queue_depth",
    help: "Boxes due for reconcile now",
    registers: [registry],
    async collect() {
      this.set((await getBoxQueueStats(pool)).depth);
    },
  });
  new Gauge({
    name: "boxyard_reconcile_queue_lag_seconds",
    help: "How long the oldest due box has waited",
    registers: [registry],
    async collect() {
      this.set((await getBoxQueueStats(pool)).lagSeconds);
    },
  });
  new Gauge({
    name: "boxyard_boxes",
    help: "Live boxes by actual state",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const counts = new Map((await countBoxesByActualState(pool)).map((r) => [r.state, r.n]));
      for (const s of ACTUAL_STATES) this.labels(s).set(counts.get(s) ?? 0);
    },
  });
  return { stateSeconds, reconcileErrors };
}
