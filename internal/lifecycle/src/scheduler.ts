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
