import { z } from "zod";
import { Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

const Resources = z.object({ cpu: z.number(), memoryMiB: z.number(), diskGiB: z.number(), gpus: z.number() });

export const Node = z
  .object({
    id: z.string(),
    name: z.string(),
    runtime: z.string(),
    status: z.string(),
    healthy: z.boolean(),
    capacity: Resources,
    allocated: Resources,
    boxes: z.int(),
    labels: z.record(z.string(), z.string()),
    agentVersion: z.string(),
    lastHeartbeatAt: Timestamp.nullable(),
  })
  .meta({ id: "Node" });

export const listNodes = defineRoute({
  operationId: "listNodes",
  method: "GET",
  path: "/api/v1/nodes",
  summary: "(site admin) Nodes with capacity, allocation and health",
  tags: ["nodes"],
  auth: "token",
  successStatus: 200,
  response: z.object({ items: z.array(Node) }),
  errors: ["forbidden"],
});
