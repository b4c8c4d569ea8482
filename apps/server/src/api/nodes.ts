import { listNodes } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import { type NodeSnapshot, toNodeSnapshot } from "@boxyard/lifecycle";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

export function registerNodeRoutes(r: RouteRegistrar, opts: { heartbeatTimeoutMs: number }): void {
  const { deps } = r;
  r.add(listNodes, async (ctx) => {
    if (!ctx.actor.user.site_admin)
      throw new DomainError("forbidden", { detail: "nodes are visible to site admins" });
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listNodesWithAllocation();
    return {
      items: rows.map((n) => ({
        ...pick(toNodeSnapshot(n, opts.heartbeatTimeoutMs)),
        status: n.status,
        boxes: n.boxes,
        labels: n.labels,
        agentVersion: n.agent_version,
        lastHeartbeatAt: n.last_heartbeat_at ? n.last_heartbeat_at.toISOString() : null,
      })),
    };
  });
}

function pick(s: NodeSnapshot) {
  return {
    id: s.id,
    name: s.name,
    runtime: s.runtime,
    healthy: s.healthy,
    capacity: s.capacity,
    allocated: s.allocated,
  };
}
