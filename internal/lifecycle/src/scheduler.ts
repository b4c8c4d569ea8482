// Placement is a pure function of (request, node snapshot): filter out the
// nodes that cannot take the box, then score the rest. It is tested with
// tables and runs unchanged against a simulated fleet.

import type { BoxResources, Capacity } from "@boxyard/agent-protocol";

export interface NodeSnapshot {
  id: string;
  name: string;
  runtime: string;
  healthy: boolean;
  capacity: Capacity;
  /** Resources held by the boxes already on the node (compute for those not stopped; disk for all). */
  allocated: Capacity;
  /** Image keys whose layers the node already holds. */
  cachedImages: readonly string[];
}

export interface PlacementRequest {
  resources: BoxResources;
  /** A driver name the box needs; undefined accepts any. */
  runtime?: string;
  imageKey?: string;
  /** The layer of the prebuild the box starts from (only the node that made it has it). */
  prebuildLayer?: string;
}

export type Placement = { node: NodeSnapshot } | { reasons: string[] };

const DIMENSIONS = ["cpu", "memoryMiB", "diskGiB", "gpus"] as const;

function rejection(req: PlacementRequest, n: NodeSnapshot): string | null {
  if (!n.healthy) return `${n.name}: not healthy`;
  if (req.runtime !== undefined && req.runtime !== n.runtime)
    return `${n.name}: runtime ${n.runtime}, box needs ${req.runtime}`;
  for (const d of DIMENSIONS) {
    const free = n.capacity[d] - n.allocated[d];
    if (req.resources[d] > free + 1e-9)
      return `${n.name}: not enough ${d} (free ${free}, need ${req.resources[d]})`;
  }
  return null;
}

/**
 * Picks the node for a box. Score: a node that holds the box's prebuild
 * wins (elsewhere the box is made from its image alone), then one that
 * already holds the image (no layer fetch on the critical path), then the
 * one with the most free memory (spreading), then the name, so the result
 * is deterministic.
 */
export function place(req: PlacementRequest, nodes: readonly NodeSnapshot[]): Placement {
  const reasons: string[] = [];
  const fits: NodeSnapshot[] = [];
  for (const n of nodes) {
    const why = rejection(req, n);
    if (why) reasons.push(why);
    else fits.push(n);
  }
  if (fits.length === 0) return { reasons: reasons.length > 0 ? reasons : ["no nodes are registered"] };
  const cached = (n: NodeSnapshot) =>
    (req.prebuildLayer !== undefined && n.cachedImages.includes(req.prebuildLayer) ? 2 : 0) +
    (req.imageKey !== undefined && n.cachedImages.includes(req.imageKey) ? 1 : 0);
  const freeMem = (n: NodeSnapshot) => n.capacity.memoryMiB - n.allocated.memoryMiB;
  fits.sort((a, b) => cached(b) - cached(a) || freeMem(b) - freeMem(a) || a.name.localeCompare(b.name));
  return { node: fits[0]! };
}

/** A warm-pool box holding room on a node. */
export interface PooledHold {
  id: string;
  version: number;
  nodeId: string;
  resources: BoxResources;
  ready: boolean;
  /** Already asked to go: its room frees without another eviction. */
  draining: boolean;
  createdAt: Date;
}

const minus = (a: Capacity, b: BoxResources): Capacity => ({
  cpu: a.cpu - b.cpu,
  memoryMiB: a.memoryMiB - b.memoryMiB,
  diskGiB: a.diskGiB - b.diskGiB,
  gpus: a.gpus - b.gpus,
});

/**
 * Pool priority: a user's box that fits on no node as it is, but would fit
 * if warm-pool boxes gave way. Returns the node (placed as `place` would,
 * with every pooled box's room counted free) and the fewest pooled boxes
 * there to evict, those still starting first, then the newest; boxes
 * already draining count as freed and are not chosen again. Null when even
 * an empty pool would not make room.
 */
export function makeRoom(
  req: PlacementRequest,
  nodes: readonly NodeSnapshot[],
  pooled: readonly PooledHold[],
): { node: NodeSnapshot; evict: PooledHold[] } | null {
  const on = (n: NodeSnapshot) => pooled.filter((p) => p.nodeId === n.id);
  const freed = nodes.map((n) => ({
    ...n,
    allocated: on(n).reduce((a, p) => minus(a, p.resources), n.allocated),
  }));
  const d = place(req, freed);
  if (!("node" in d)) return null;
  const node = nodes.find((n) => n.id === d.node.id)!;
  let allocated = node.allocated;
  const fits = () => DIMENSIONS.every((k) => req.resources[k] <= node.capacity[k] - allocated[k] + 1e-9);
  for (const p of on(node).filter((p) => p.draining)) allocated = minus(allocated, p.resources);
  const candidates = on(node)
    .filter((p) => !p.draining)
    .sort((a, b) => Number(a.ready) - Number(b.ready) || b.createdAt.getTime() - a.createdAt.getTime());
  const evict: PooledHold[] = [];
  while (!fits()) {
    const p = candidates.shift();
    if (!p) return null;
    evict.push(p);
    allocated = minus(allocated, p.resources);
  }
  return { node, evict };
}

/**
 * Whether a warm-pool fill placed on `node` would take room a user's box is
 * waiting for: one of `waiting` fits in the node's free room now. The fill
 * then waits; a waiting box that fits nowhere does not hold pools back.
 */
export function roomWantedByUsers(node: NodeSnapshot, waiting: readonly BoxResources[]): boolean {
  return waiting.some((r) => DIMENSIONS.every((k) => r[k] <= node.capacity[k] - node.allocated[k] + 1e-9));
}
