import { listNodes } from "@boxyard/contract";
import { listNodesWithAllocation } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { RouteRegistrar } from "./registrar.ts";

export function registerNodeRoutes(r: RouteRegistrar, opts: { heartbeatTimeoutMs: number }): void {
  const { deps } = r;
  r.add(listNodes, async (ctx) => {
    if (!ctx.actor.user.site_admin)
      throw new DomainError("forbidden", { detail: "nodes are visible to site admins" });
    const rows = await listNodesWithAllocation(deps.pool);
    return {
      items: rows.map((n) => ({
        id: n.id,
        name: n.name,
        runtime: n.runtime,
        status: n.status,
        healthy:
          n.status === "ready" &&
          n.heartbeat_age_ms !== null &&
          n.heartbeat_age_ms <= opts.heartbeatTimeoutMs,
        capacity: n.capacity,
        allocated: {
          cpu: n.alloc_cpu,
          memoryMiB: n.alloc_memory_mib,
          diskGiB: n.alloc_disk_gib,
          gpus: n.alloc_gpus,
        },
        boxes: n.boxes,
        labels: n.labels,
        agentVersion: n.agent_version,
        lastHeartbeatAt: n.last_heartbeat_at ? n.last_heartbeat_at.toISOString() : null,
      })),
    };
  });
}
