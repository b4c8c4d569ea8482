// What a garbage-collection pass of the node's layer cache removes: a pure
// function of the layers' sizes and last uses, what is protected, and the
// policy. The acting part (layer-gc.ts) is thin.

export interface LayerFacts {
  digest: string;
  /** Disk space the layer's tree takes. */
  bytes: number;
  /** When a box, build or prebuild last used it (ms since the epoch). */
  lastUsedMs: number;
}

export interface LayerGcPolicy {
  /** The cache may hold this many bytes; above it unused layers go, least recently used first. Null: no budget. */
  budgetBytes: number | null;
  /** An unused layer not wanted by the control plane goes after this long without use. Null: no TTL. */
  ttlMs: number | null;
  /** A layer used this recently is never removed (covers a build's result on its way to a prepare). */
  graceMs: number;
}

export interface LayerGcInput {
  layers: readonly LayerFacts[];
  /** Layers a box on the node mounts. */
  inUse: ReadonlySet<string>;
  /** Layers a prepare, build or prebuild holds right now. */
  pinned: ReadonlySet<string>;
  /** Layers the control plane still wants here (desired boxes' images and prebuilds): removed last, never by TTL. */
  wanted: ReadonlySet<string>;
  now: number;
  policy: LayerGcPolicy;
  /** The disk is short of this many bytes (a prepare or build failed for space): free them, LRU first. */
  needBytes?: number;
}

export type LayerRemovalReason = "ttl" | "budget" | "disk_full";

export interface PlannedRemoval {
  digest: string;
  bytes: number;
  reason: LayerRemovalReason;
  idleMs: number;
}

export interface LayerGcPlan {
  remove: PlannedRemoval[];
  /** Bytes in the cache before the pass. */
  totalBytes: number;
}

export function planLayerGc(input: LayerGcInput): LayerGcPlan {
  const { now, policy } = input;
  const totalBytes = input.layers.reduce((s, l) => s + l.bytes, 0);
  const removable = input.layers
    .filter(
      (l) =>
        !input.inUse.has(l.digest) && !input.pinned.has(l.digest) && now - l.lastUsedMs >= policy.graceMs,
    )
    // Unwanted layers before wanted ones, then least recently used first; the digest breaks ties.
    .sort(
      (a, b) =>
        Number(input.wanted.has(a.digest)) - Number(input.wanted.has(b.digest)) ||
        a.lastUsedMs - b.lastUsedMs ||
        (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0),
    );
  const remove: PlannedRemoval[] = [];
  const chosen = new Set<string>();
  let kept = totalBytes;
  let freed = 0;
  const take = (l: LayerFacts, reason: LayerRemovalReason) => {
    chosen.add(l.digest);
    kept -= l.bytes;
    freed += l.bytes;
    remove.push({ digest: l.digest, bytes: l.bytes, reason, idleMs: now - l.lastUsedMs });
  };
  if (policy.ttlMs !== null)
    for (const l of removable)
      if (!input.wanted.has(l.digest) && now - l.lastUsedMs > policy.ttlMs) take(l, "ttl");
  if (policy.budgetBytes !== null)
    for (const l of removable) {
      if (kept <= policy.budgetBytes) break;
      if (!chosen.has(l.digest)) take(l, "budget");
    }
  const need = input.needBytes ?? 0;
  for (const l of removable) {
    if (freed >= need) break;
    if (!chosen.has(l.digest)) take(l, "disk_full");
  }
  return { remove, totalBytes };
}
