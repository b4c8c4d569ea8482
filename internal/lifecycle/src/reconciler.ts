// The box reconciler: reconcile(key) -> { requeueAfter? }, driven by a work
// queue on the box rows. A throw retries with jittered capped backoff
// recorded on the row; a TerminalError fails the box for good. Workers in
// any number of processes share the queue through leases; every write is
// fenced on the row version read, so a worker whose lease expired (paused,
// partitioned) cannot overwrite newer state.

import { randomBytes } from "node:crypto";
import { inTx, type Queryable } from "@boxyard/db";
import { authorizedStore } from "@boxyard/authz";
import type { Clock } from "@boxyard/platform";
import type pg from "pg";
import type { Logger } from "pino";
import { applyPlan, snapshotOf } from "./apply-plan.ts";
import { type BackoffOptions, backoffMs } from "./backoff.ts";
import { RetryableError, StaleWriteError, TerminalError } from "./errors.ts";
import { type Failpoints, failpoints as globalFailpoints, isCrash } from "./failpoints.ts";
import type { LifecycleMetrics } from "./metrics.ts";
import type { PgListener } from "./pg-listener.ts";
import { plan } from "./plan.ts";
import { TRANSIENT_STATES } from "./states.ts";

/** Every query here runs as the reconciler system actor (B2). */
const asReconciler = (q: Queryable) => authorizedStore(q, { kind: "system", name: "reconciler" });

export interface ReconcileResult {
  requeueAfter?: number;
}

export interface ReconcilerOptions {
  pool: pg.Pool;
  clock: Clock;
  logger: Logger;
  listener?: PgListener;
  metrics?: LifecycleMetrics;
  failpoints?: Failpoints;
  /** Name of this worker in lease rows; random by default. */
  holder?: string;
  /** Boxes reconciled at once by this instance. */
  concurrency?: number;
  leaseMs?: number;
  /** Fallback poll for due rows when no notification comes. */
  pollMs?: number;
  /** Periodic resync of every box. */
  resyncMs?: number;
  /** Re-check a box waiting on its node this often even without a report. */
  waitRequeueMs?: number;
  backoff?: BackoffOptions;
  nodeHeartbeatTimeoutMs?: number;
  runtime?: string;
  /**
   * Instrumentation: called as this instance starts work on a key and just
   * before the write that gives its lease away (tests count overlap).
   */
  trace?: { begin(boxId: string): void; end(boxId: string): void };
}

export class Reconciler {
  readonly holder: string;
  private readonly o: Required<
    Omit<ReconcilerOptions, "listener" | "metrics" | "runtime" | "holder" | "trace">
  > &
    Pick<ReconcilerOptions, "listener" | "metrics" | "runtime" | "trace">;
  private running = false;
  private crashed = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private wake: (() => void) | undefined;
  private poked = false;
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(opts: ReconcilerOptions) {
    this.holder = opts.holder ?? `reconciler-${randomBytes(4).toString("hex")}`;
    this.o = {
      pool: opts.pool,
      clock: opts.clock,
      logger: opts.logger,
      listener: opts.listener,
      metrics: opts.metrics,
      runtime: opts.runtime,
      trace: opts.trace,
      failpoints: opts.failpoints ?? globalFailpoints,
      concurrency: opts.concurrency ?? 8,
      leaseMs: opts.leaseMs ?? 30_000,
      pollMs: opts.pollMs ?? 1_000,
      resyncMs: opts.resyncMs ?? 60_000,
      waitRequeueMs: opts.waitRequeueMs ?? 30_000,
      backoff: opts.backoff ?? { baseMs: 1_000, capMs: 60_000 },
      nodeHeartbeatTimeoutMs: opts.nodeHeartbeatTimeoutMs ?? 30_000,
    };
  }

  /** True after a failpoint "crashed" it; tests then build a new one. */
  get isCrashed(): boolean {
    return this.crashed;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.o.listener?.subscribe("boxyard_box_changed", () => this.poke());
    const resync = setInterval(() => {
      asReconciler(this.o.pool)
        .enqueueAllBoxes()
        .then(() => this.poke())
        .catch((err) => this.o.logger.warn({ err }, "resync failed"));
    }, this.o.resyncMs);
    resync.unref();
    this.timers.push(resync);
    this.loop = this.run();
  }

  /** Stops taking work and waits for in-flight keys; leases of unfinished keys expire on their own. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.poke();
    await this.loop;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Wakes the loop to look for due work now. */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    // A poke while the loop is busy (claiming) is kept, so its sleep is skipped.
    if (!w) this.poked = true;
    w?.();
  }

  /** One step for one box, outside the queue (tests and tools); the caller must hold its lease. */
  async reconcile(boxId: string): Promise<ReconcileResult> {
    const r = await this.reconcileOnce(boxId);
    return r.requeueAfter === undefined ? {} : { requeueAfter: r.requeueAfter };
  }

  private async run(): Promise<void> {
    while (this.running && !this.crashed) {
      const free = this.o.concurrency - this.inFlight.size;
      let claimed: Array<{ id: string }> = [];
      if (free > 0) {
        try {
          claimed = await asReconciler(this.o.pool).claimDueBoxes({
            holder: this.holder,
            leaseMs: this.o.leaseMs,
            limit: free,
          });
        } catch (err) {
          this.o.logger.warn({ err }, "cannot claim reconcile work");
        }
      }
      for (const { id } of claimed) {
        // Our own lease on a key still being worked on here ran out and we took it again: the work in flight finishes it.
        if (this.inFlight.has(id)) continue;
        const p = this.process(id).finally(() => {
          this.inFlight.delete(id);
          this.poke();
        });
        this.inFlight.set(id, p);
      }
      if (claimed.length > 0 && claimed.length === free) continue;
      if (this.poked) {
        this.poked = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private async process(id: string): Promise<void> {
    if (this.crashed) return;
    this.o.trace?.begin(id);
    // Keep the lease while the step runs; if renewal fails the fenced writes still protect the row.
    const renew = setInterval(() => {
      asReconciler(this.o.pool)
        .renewBoxLease({ id, holder: this.holder, leaseMs: this.o.leaseMs })
        .catch(() => {});
    }, this.o.leaseMs / 3);
    // Called just before the write that gives the lease away: once it commits
    // another worker may begin this box, possibly before our continuation runs.
    let handedOff = false;
    const handOff = () => {
      if (handedOff) return;
      handedOff = true;
      clearInterval(renew);
      this.o.trace?.end(id);
    };
    try {
      const r = await this.reconcileOnce(id);
      this.o.failpoints.hit("reconciler.before-release");
      handOff();
      await asReconciler(this.o.pool).releaseBoxLease({
        id,
        holder: this.holder,
        seenVersion: r.version,
        requeueAfterMs: r.requeueAfter ?? null,
      });
    } catch (err) {
      if (isCrash(err)) {
        // Sudden death: no more writes, leases are left to expire.
        this.crashed = true;
        this.running = false;
        this.poke();
        return;
      }
      await this.onError(id, err, handOff).catch((e) =>
        this.o.logger.warn({ err: e, boxId: id }, "cannot record reconcile error"),
      );
    } finally {
      handOff();
    }
  }

  private async reconcileOnce(id: string): Promise<{ requeueAfter?: number; version: number }> {
    const box = await asReconciler(this.o.pool).getBoxById(id);
    if (!box || box.deleted_at) return { version: box?.version ?? 0 };
    const now = this.o.clock.now();
    const actions = plan(snapshotOf(box));
    const applied = await applyPlan(box, actions, {
      pool: this.o.pool,
      now,
      nodeHeartbeatTimeoutMs: this.o.nodeHeartbeatTimeoutMs,
      runtime: this.o.runtime,
    });
    if (applied.left && TRANSIENT_STATES.has(applied.left.state)) {
      this.o.metrics?.stateSeconds.labels(applied.left.state, box.template).observe(applied.left.seconds);
    }
    // A new box's control-plane phases: placed on a node; first running (observed_generation 0: never settled).
    const sinceCreated = (now.getTime() - box.created_at.getTime()) / 1000;
    if (box.node_id === null && applied.box.node_id !== null)
      this.o.metrics?.createPhaseSeconds?.labels("schedule").observe(sinceCreated);
    if (
      box.observed_generation === 0 &&
      box.actual_state !== "running" &&
      applied.box.actual_state === "running"
    )
      this.o.metrics?.createPhaseSeconds?.labels("ready").observe(sinceCreated);
    if (applied.box !== box) this.o.failpoints.hit(`reconciler.after-write:${applied.box.actual_state}`);
    if (applied.retry) throw applied.retry;
    return {
      version: applied.box.version,
      ...(applied.waiting ? { requeueAfter: this.o.waitRequeueMs } : {}),
    };
  }

  private async onError(id: string, err: unknown, handOff: () => void): Promise<void> {
    const code =
      err instanceof RetryableError || err instanceof TerminalError ? err.code : "reconcile_failed";
    if (err instanceof StaleWriteError) {
      // Someone wrote the row after we read it: simply look again now.
      handOff();
      await asReconciler(this.o.pool).releaseBoxLease({
        id,
        holder: this.holder,
        seenVersion: -1,
        requeueAfterMs: 0,
      });
      return;
    }
    this.o.metrics?.reconcileErrors.labels(code).inc();
    const box = await asReconciler(this.o.pool).getBoxById(id);
    if (!box) return;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof TerminalError) {
      await this.failPermanently(box.id, { code, message }, handOff);
      return;
    }
    if (!(err instanceof RetryableError))
      this.o.logger.warn({ err, boxId: id }, "reconcile failed; retrying");
    const attempts = box.attempts + 1;
    handOff();
    await asReconciler(this.o.pool).recordBoxAttemptFailure({
      id,
      holder: this.holder,
      attempts,
      retryAfterMs: backoffMs(attempts, this.o.backoff),
      lastError: { code, message, at: this.o.clock.now().toISOString(), attempts, permanent: false },
    });
  }

  private async failPermanently(
    id: string,
    error: { code: string; message: string },
    handOff: () => void,
  ): Promise<void> {
    await inTx(this.o.pool, async (tx) => {
      const box = await asReconciler(tx).getBoxById(id);
      if (!box) return;
      const row = await asReconciler(tx).updateBoxFenced(id, box.version, {
        actualState: "failed",
        observedGeneration: box.generation,
        lastError: {
          ...error,
          at: this.o.clock.now().toISOString(),
          attempts: box.attempts + 1,
          permanent: true,
        },
      });
      if (!row) throw new StaleWriteError(`box ${id}`);
      await asReconciler(tx).insertBoxEvent({
        boxId: id,
        orgId: box.org_id,
        generation: box.generation,
        from: box.actual_state,
        to: "failed",
        reason: error.message,
      });
      await asReconciler(tx).completeOperations({
        boxId: id,
        generation: box.generation,
        status: "failed",
        error,
      });
    });
    handOff();
    await asReconciler(this.o.pool)
      .releaseBoxLease({
        id,
        holder: this.holder,
        seenVersion: 0,
        requeueAfterMs: null,
      })
      .catch(() => {});
  }
}
