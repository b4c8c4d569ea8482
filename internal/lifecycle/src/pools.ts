// The warm-pool controller: for every pool, keep `target` boxes of the
// template's latest version ready and ownerless, where target is the pool's
// size capped by what the org's quota could still admit (a pooled box the
// org could never claim is not kept). Level-triggered and stateless: each
// pass reads the pool's boxes from the database and converges them (fill,
// drain stale versions, failed boxes and extras), so a crash anywhere loses
// nothing; the next pass, in this process or another, finishes the job. A
// per-pool advisory lock keeps two controllers from filling one pool at once.
//
// Pooled boxes are ordinary box rows (pool_id set, no owner): the reconciler
// schedules and runs them like any box, so they hold node capacity. They do
// not count against the org's quota; a claim is admitted like a create.

import { randomBytes } from "node:crypto";
import {
  type BoxRow,
  inTx,
  type PoolRow,
  type QuotaLimits,
  type QuotaUsage,
  type Queryable,
} from "@boxyard/db";
import { authorizedStore } from "@boxyard/authz";
import type { IdGen } from "@boxyard/platform";
import type pg from "pg";
import type { Logger } from "pino";
import { newMachineId } from "./box-service.ts";
import type { PgListener } from "./pg-listener.ts";
import type { ResolvedTemplate } from "./templates.ts";

/** Every query here runs as the pool-manager system actor (B2). */
const asPoolManager = (q: Queryable) => authorizedStore(q, { kind: "system", name: "pool-manager" });

export interface PoolControllerOptions {
  pool: pg.Pool;
  ids: IdGen;
  logger: Logger;
  listener?: PgListener;
  /** The org's template of that name at its latest version; null when it no longer exists. */
  resolveTemplate: (orgId: string, name: string) => Promise<ResolvedTemplate | null>;
  /** A full pass over every pool at least this often, whatever notifications say. */
  pollMs?: number;
  /**
   * A notification (a claim, a size change) brings the next pass this much
   * closer: the refill a claim starts boots a sandbox, which should not
   * compete with the claimed box's first commands. Default 1 s.
   */
  notifyDelayMs?: number;
}

export interface PoolPass {
  poolId: string;
  target: number;
  kept: number;
  added: number;
  drained: number;
}

/** How many more boxes of `r` the org's quota would admit now (Infinity without limits). */
export function quotaHeadroom(
  limits: QuotaLimits,
  usage: QuotaUsage,
  r: ResolvedTemplate["resources"],
): number {
  const room = (limit: number | null, used: number, per: number) =>
    limit === null || per <= 0 ? Number.POSITIVE_INFINITY : Math.floor((limit - used) / per + 1e-9);
  return Math.max(
    0,
    Math.min(
      room(limits.maxBoxes, usage.boxes, 1),
      room(limits.maxRunningBoxes, usage.runningBoxes, 1),
      room(limits.cpu, usage.cpu, r.cpu),
      room(limits.memoryMiB, usage.memoryMiB, r.memoryMiB),
      room(limits.diskGiB, usage.diskGiB, r.diskGiB),
      room(limits.gpus, usage.gpus, r.gpus),
    ),
  );
}

function sameBuild(box: BoxRow, t: ResolvedTemplate): boolean {
  const eq = (a: unknown, b: unknown) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
  return (
    box.template_version === t.version &&
    eq(box.image, t.image) &&
    eq(box.resources, t.resources) &&
    eq((box as BoxRow & { network?: unknown }).network ?? { egress: "deny-all" }, t.network) &&
    // A newer prebuild replaces the pool's boxes: a claimed box is as fresh as a created one.
    (box.prebuild?.id ?? null) === (t.prebuild?.id ?? null) &&
    eq(box.env ?? {}, t.env ?? {})
  );
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  return v;
}

const isReady = (b: BoxRow) =>
  b.desired_state === "running" && b.actual_state === "running" && b.observed_generation >= b.generation;

export class PoolController {
  private readonly pollMs: number;
  private readonly notifyDelayMs: number;
  private soon: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private poked = false;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: PoolControllerOptions) {
    this.pollMs = o.pollMs ?? 2_000;
    this.notifyDelayMs = o.notifyDelayMs ?? 1_000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.o.listener?.subscribe("boxyard_pool_changed", () => this.pokeSoon());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.soon);
    this.unsubscribe?.();
    this.poke();
    await this.loop;
  }

  /** A pass after notifyDelayMs (at once when it is 0); several notifications meanwhile make one pass. */
  pokeSoon(): void {
    if (this.notifyDelayMs <= 0) {
      this.poke();
      return;
    }
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.poke();
    }, this.notifyDelayMs);
    this.soon.unref();
  }

  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    if (!w) this.poked = true;
    w?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.poked = false;
      try {
        await this.reconcileAll();
      } catch (err) {
        this.o.logger.warn({ err }, "warm pool pass failed; trying again");
      }
      if (!this.running || this.poked) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** One pass over every pool. */
  async reconcileAll(): Promise<PoolPass[]> {
    const out: PoolPass[] = [];
    for (const p of await asPoolManager(this.o.pool).listActivePools()) {
      try {
        const r = await this.reconcilePool(p);
        if (r) out.push(r);
      } catch (err) {
        this.o.logger.warn({ err, poolId: p.id }, "cannot converge a warm pool");
      }
    }
    return out;
  }

  /** Converges one pool; null when another controller holds it right now. */
  async reconcilePool(p: PoolRow): Promise<PoolPass | null> {
    const template = await this.o.resolveTemplate(p.org_id, p.template).catch(() => null);
    return inTx(this.o.pool, async (tx) => {
      if (!(await asPoolManager(tx).tryLockPool(p.id))) return null;
      const pool = (await asPoolManager(tx).getPoolById(p.id))!;
      const boxes = (await asPoolManager(tx).listPooledBoxes(p.id)).filter(
        (b) => b.desired_state !== "deleted",
      );
      const drain: BoxRow[] = [];
      const keep: BoxRow[] = [];
      for (const b of boxes) {
        // Another version (or a changed spec) is never handed out; a failed box is replaced.
        if (!template || !sameBuild(b, template) || b.actual_state === "failed") drain.push(b);
        else keep.push(b);
      }
      let target = 0;
      if (template && pool.size > 0) {
        const headroom = quotaHeadroom(
          await asPoolManager(tx).getOrgQuota(pool.org_id),
          await asPoolManager(tx).getOrgUsage(pool.org_id),
          template.resources,
        );
        target = Math.min(pool.size, headroom);
      }
      // Extras go, those still on their way first.
      keep.sort((a, b) => Number(isReady(a)) - Number(isReady(b)));
      while (keep.length > target) drain.push(keep.shift()!);
      for (const b of drain) {
        const row = await asPoolManager(tx).setBoxDesiredState({
          id: b.id,
          version: b.version,
          desiredState: "deleted",
        });
        if (row) await asPoolManager(tx).notifyBoxChanged(b.id);
      }
      let added = 0;
      for (let i = keep.length; template && i < target; i++) {
        const box = await asPoolManager(tx).insertBox({
          id: this.o.ids.newId("box"),
          orgId: pool.org_id,
          name: `pool-${randomBytes(6).toString("hex")}`,
          ownerId: null,
          poolId: pool.id,
          machineId: newMachineId(),
          network: template.network,
          template: template.name,
          templateVersion: template.version,
          image: template.image,
          resources: template.resources,
          persistent: false,
          secrets: template.secrets ?? [],
          repo: template.repo ?? null,
          prebuild: template.prebuild ?? null,
          env: template.env ?? {},
          onStart: template.onStart ?? [],
        });
        await asPoolManager(tx).insertBoxEvent({
          boxId: box.id,
          orgId: box.org_id,
          generation: box.generation,
          from: null,
          to: "pending",
          reason: "warm pool fill",
        });
        await asPoolManager(tx).notifyBoxChanged(box.id);
        added++;
      }
      await asPoolManager(tx).recordPoolDecision({
        id: pool.id,
        target,
        templateVersion: template?.version ?? null,
        lastError: template ? null : `template ${pool.template} not found`,
      });
      return { poolId: pool.id, target, kept: keep.length, added, drained: drain.length };
    });
  }
}
