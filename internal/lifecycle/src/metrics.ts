import type { Queryable } from "@boxyard/db";
import { authorizedStore } from "@boxyard/authz";
import type pg from "pg";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { ACTUAL_STATES } from "./states.ts";

/** Every query here runs as the metrics system actor (B2). */
const asMetrics = (q: Queryable) => authorizedStore(q, { kind: "system", name: "metrics" });

export interface LifecycleMetrics {
  stateSeconds: Histogram<"state" | "template">;
  reconcileErrors: Counter<"code">;
  createPhaseSeconds: Histogram<"phase">;
}

/**
 * The phases of a new box, for create-to-ready's split (`make bench`):
 * schedule (created to placed on a node, the reconciler), image (the node
 * resolves the image's and the prebuild's layers), volume (the runtime's
 * prepare: disk, root overlay, /home/dev and /workspace seeded, network),
 * boot (the runtime's start), init (secrets, checkout, onStart started, once
 * the box runs: the node does it after reporting running), ready (created
 * to the control plane's first `running`: the whole server-side path).
 */
export const CREATE_PHASES = ["schedule", "image", "volume", "boot", "init", "ready"] as const;
export type CreatePhase = (typeof CREATE_PHASES)[number];
const CREATE_PHASE_SECONDS = "boxyard_box_create_phase_seconds";

/** The create-phase histogram of a registry (one per registry: the reconciler and the node agent share it). */
export function createPhaseHistogram(registry: Registry): Histogram<"phase"> {
  const existing = registry.getSingleMetric(CREATE_PHASE_SECONDS);
  if (existing) return existing as Histogram<"phase">;
  return new Histogram({
    name: CREATE_PHASE_SECONDS,
    help: "Time of each phase of a new box: schedule, image, volume, boot, init, ready (created to running)",
    labelNames: ["phase"] as const,
    buckets: [
      0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60,
      300,
    ],
    registers: [registry],
  });
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
      this.set((await asMetrics(pool).getBoxQueueStats()).depth);
    },
  });
  new Gauge({
    name: "boxyard_reconcile_queue_lag_seconds",
    help: "How long the oldest due box has waited",
    registers: [registry],
    async collect() {
      this.set((await asMetrics(pool).getBoxQueueStats()).lagSeconds);
    },
  });
  new Gauge({
    name: "boxyard_boxes",
    help: "Live boxes by actual state",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const counts = new Map((await asMetrics(pool).countBoxesByActualState()).map((r) => [r.state, r.n]));
      for (const s of ACTUAL_STATES) this.labels(s).set(counts.get(s) ?? 0);
    },
  });
  return { stateSeconds, reconcileErrors, createPhaseSeconds: createPhaseHistogram(registry) };
}

const POOL_CLAIMS = "boxyard_pool_claims_total";

/** Creates that asked a warm pool: hit (claimed a ready box) or miss (made a new one). Shared per registry. */
export function poolClaimCounter(registry: Registry): Counter<"template" | "result"> {
  const existing = registry.getSingleMetric(POOL_CLAIMS);
  if (existing) return existing as Counter<"template" | "result">;
  return new Counter({
    name: POOL_CLAIMS,
    help: "Creates of a template with a warm pool, by result: hit (claimed) or miss (created fresh)",
    labelNames: ["template", "result"] as const,
    registers: [registry],
  });
}

/** Warm pool sizes, read from the database at scrape time: boxes by state, target and configured size. */
export function createPoolMetrics(registry: Registry, pool: pg.Pool): void {
  poolClaimCounter(registry);
  new Gauge({
    name: "boxyard_pool_boxes",
    help: "Boxes in each warm pool: ready (claimable), starting, draining",
    labelNames: ["org", "template", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await asMetrics(pool).listPoolStatus()) {
        this.labels(p.org_name, p.template, "ready").set(p.ready);
        this.labels(p.org_name, p.template, "starting").set(p.starting);
        this.labels(p.org_name, p.template, "draining").set(p.draining);
      }
    },
  });
  new Gauge({
    name: "boxyard_pool_target",
    help: "Boxes each warm pool keeps: its size capped by the org's quota headroom",
    labelNames: ["org", "template"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await asMetrics(pool).listPoolStatus())
        this.labels(p.org_name, p.template).set(p.target);
    },
  });
}
