// Garbage collection of the node's layer cache, in the background of the
// node agent: a pass every interval, and one soon after a prepare or an
// unpack failed for disk space. A pass never runs on a create's critical
// path; it takes no lock a prepare waits on (a pin waits only for the
// rename of a layer being removed at that moment).

import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { type LayerGcPolicy, type PlannedRemoval, planLayerGc } from "./layer-gc-plan.ts";
import type { LayerStore } from "./layer-store.ts";

export interface LayerGcLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LayerGcSettings {
  /** Size budget: bytes, or a fraction of the filesystem holding the cache. Null: none. */
  budget: { bytes: number } | { fraction: number } | null;
  /** Unused, unwanted layers go after this long without use. Null: never for age alone. */
  ttlMs: number | null;
  /** Layers used this recently are kept whatever the budget (default 15 minutes). */
  graceMs?: number;
  /** Time between passes (default 10 minutes). */
  intervalMs?: number;
  /** After a disk-full report, free space until this fraction of the filesystem is free (default 0.1). */
  freeFraction?: number;
}

export interface LayerGcOptions {
  store: LayerStore;
  settings: LayerGcSettings;
  /** Digests of the layers the node's boxes mount (every box record, whatever its phase). */
  inUse: () => Promise<Iterable<string>>;
  /** Digests the control plane still wants on this node, as far as the agent knows cheaply. */
  wanted?: () => Promise<Iterable<string>>;
  now?: () => number;
  logger: LayerGcLogger;
  /** Size and free space of the cache's filesystem; default statfs. */
  disk?: (path: string) => Promise<{ totalBytes: number; freeBytes: number }>;
  /** After each pass, for metrics. */
  onPass?: (result: LayerGcResult) => void;
  /** A background pass failed (it is logged and tried again at the next interval). */
  onError?: (err: unknown) => void;
}

export interface LayerGcResult {
  /** Layers and bytes in the cache after the pass. */
  layers: number;
  bytes: number;
  removed: PlannedRemoval[];
  /** Spec index entries dropped because their layer is gone. */
  indexEntries: number;
}

export class LayerGc {
  readonly #o: LayerGcOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<LayerGcResult> | undefined;
  #diskFull = false;
  #again = false;
  #stopped = true;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: LayerGcOptions) {
    this.#o = opts;
  }

  get intervalMs(): number {
    return this.#o.settings.intervalMs ?? 10 * 60_000;
  }

  /** Empties what an interrupted removal left, then runs a pass every interval. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#unsubscribe = this.#o.store.onNoSpace(() => this.kick({ diskFull: true }));
    this.#schedule(Math.min(this.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** Asks for a pass soon (after the one running, if any). */
  kick(opts: { diskFull?: boolean } = {}): void {
    if (opts.diskFull) this.#diskFull = true;
    if (this.#running) this.#again = true;
    else if (!this.#stopped) this.#schedule(0);
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.runOnce().catch((err) =>
        this.#o.logger.warn(
          { err: String(err) },
          "layer cache garbage collection failed; trying again later",
        ),
      );
    }, ms);
    this.#timer.unref();
  }

  /** One pass now (or the one running). */
  runOnce(): Promise<LayerGcResult> {
    if (this.#running) return this.#running;
    const diskFull = this.#diskFull;
    this.#diskFull = false;
    this.#running = this.#pass(diskFull).finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      const again = this.#again;
      this.#again = false;
      this.#schedule(again ? 0 : this.intervalMs);
    });
    return this.#running;
  }

  async #pass(diskFull: boolean): Promise<LayerGcResult> {
    const { store, settings } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    await store.emptyTrash();
    const sweep = store.beginSweep();
    const removed: PlannedRemoval[] = [];
    let layers: Awaited<ReturnType<LayerStore["usage"]>>;
    try {
      // Read after the sweep began: a box prepared since shows in its record or as a pin noted by the sweep.
      const inUse = new Set(await this.#o.inUse());
      const wanted = new Set((await this.#o.wanted?.()) ?? []);
      layers = await store.usage();
      const disk = this.#o.disk ?? statfsDisk;
      const needsDisk = diskFull || (settings.budget !== null && "fraction" in settings.budget);
      const fs = needsDisk ? await disk(store.root) : undefined;
      const budgetBytes =
        settings.budget === null
          ? null
          : "bytes" in settings.budget
            ? settings.budget.bytes
            : Math.floor(settings.budget.fraction * (fs?.totalBytes ?? 0));
      const policy: LayerGcPolicy = {
        budgetBytes,
        ttlMs: settings.ttlMs,
        graceMs: settings.graceMs ?? 15 * 60_000,
      };
      const needBytes =
        diskFull && fs ? Math.max(0, (settings.freeFraction ?? 0.1) * fs.totalBytes - fs.freeBytes) : 0;
      const plan = planLayerGc({ layers, inUse, pinned: store.pinned(), wanted, now, policy, needBytes });
      for (const r of plan.remove) {
        if (!(await sweep.remove(r.digest))) continue;
        removed.push(r);
        this.#o.logger.info(
          { digest: r.digest, bytes: r.bytes, reason: r.reason, idleSeconds: Math.round(r.idleMs / 1000) },
          "image layer removed from the node's cache",
        );
      }
    } finally {
      sweep.end();
    }
    const { indexEntries } = await store.forgetMissing();
    const gone = new Set(removed.map((r) => r.digest));
    const left = layers.filter((l) => !gone.has(l.digest));
    const result: LayerGcResult = {
      layers: left.length,
      bytes: left.reduce((s, l) => s + l.bytes, 0),
      removed,
      indexEntries,
    };
    this.#o.onPass?.(result);
    return result;
  }
}

async function statfsDisk(path: string): Promise<{ totalBytes: number; freeBytes: number }> {
  // The cache's root may not exist yet: its nearest existing parent is on the same filesystem.
  for (let p = path; ; p = dirname(p)) {
    try {
      const s = await statfs(p);
      return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || dirname(p) === p) throw err;
    }
  }
}
