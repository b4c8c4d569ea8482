// Sharing a box port's preview. A port is private unless shared: then any
// member of the box's org, or anyone with the link, may open
// /preview/ORG/BOX/PORT/ (WebSocket upgrades included).

import { z } from "zod";
import { Name } from "./common.ts";
import { defineRoute } from "./route.ts";

const PortParams = z.strictObject({
  org: Name,
  box: Name,
  port: z.coerce.number().int().min(1, "must be 1-65535").max(65535, "must be 1-65535"),
});

export const PortVisibility = z.enum(["private", "org", "public"]);

export const BoxPort = z
  .object({
    port: z.int(),
    visibility: PortVisibility,
    label: z.string(),
    /** Path of the preview on this server. */
    previewPath: z.string(),
  })
  .meta({ id: "BoxPort" });

export const listBoxPorts = defineRoute({
  operationId: "listBoxPorts",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes/:box/ports",
  summary: "The box's shared ports (every other port is private)",
  tags: ["boxes"],
  auth: "token",
  params: z.strictObject({ org: Name, box: Name }),
  successStatus: 200,
  response: z.object({ items: z.array(BoxPort) }),
  errors: ["org_not_found", "box_not_found"],
});

export const setBoxPort = defineRoute({
  operationId: "setBoxPort",
  method: "PUT",
  path: "/api/v1/orgs/:org/boxes/:box/ports/:port",
  summary: "Share a port's preview with the org or with anyone who has the link, or make it private again",
  tags: ["boxes"],
  auth: "token",
  params: PortParams,
  body: z.strictObject({ visibility: PortVisibility, label: z.string().max(100).optional() }),
  successStatus: 200,
  response: BoxPort,
  errors: ["org_not_found", "box_not_found", "forbidden"],
});
