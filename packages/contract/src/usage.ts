// Metered usage and cost: what an org's boxes held over a window, priced with
// the server's configured rates (BOXYARD_PRICES).

import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

const Metered = z.object({
  computeHours: z.number(),
  cpuHours: z.number(),
  memoryGiBHours: z.number(),
  diskGiBHours: z.number(),
  cost: z.number(),
});

export const Usage = z
  .object({
    from: Timestamp,
    to: Timestamp,
    currency: z.string(),
    prices: z.object({ cpuHour: z.number(), memoryGiBHour: z.number(), diskGiBMonth: z.number() }),
    total: Metered,
    boxes: z.array(
      Metered.extend({
        box: z.string(),
        owner: z.string(),
        team: z.string().nullable(),
        deleted: z.boolean(),
      }),
    ),
    teams: z.array(Metered.extend({ team: z.string().nullable() })),
  })
  .meta({ id: "Usage" });

export const getUsage = defineRoute({
  operationId: "getUsage",
  method: "GET",
  path: "/api/v1/orgs/:org/usage",
  summary: "Metered usage and cost of the org's boxes, per box and per team (default: this calendar month)",
  tags: ["orgs"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  query: z.strictObject({ from: Timestamp.optional(), to: Timestamp.optional() }),
  successStatus: 200,
  response: Usage,
  errors: ["org_not_found", "forbidden"],
});
