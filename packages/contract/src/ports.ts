// A box's ports and sharing their previews. A port is private unless shared:
// then any member of the box's org, or anyone with the link, may open
// /preview/ORG/BOX/PORT/ (WebSocket upgrades included). The ports the box's
// template declares are listed from the start, private, with their names.

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
    /** The label it was shared with, else the name the template gives it, else "". */
    label: z.string(),
    /** The box's template declares it (listed even while private). */
    declared: z.boolean(),
    /** Path of the preview on this server. */
    previewPath: z.string(),
  })
  .meta({ id: "BoxPort" });

export const listBoxPorts = defineRoute({
  operationId: "listBoxPorts",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes/:box/ports",
  summary:
    "The box's ports: those its template declares (private until shared, with their names) and those shared; every other port is private",
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
