import { z } from "zod";
import { Name } from "./common.ts";
import { defineRoute } from "./route.ts";

const limit = (max: number) => z.number().min(0).max(max).nullable();

export const QuotaLimits = z
  .strictObject({
    maxBoxes: limit(1_000_000).pipe(z.int().nullable()),
    maxRunningBoxes: limit(1_000_000).pipe(z.int().nullable()),
    cpu: limit(1_000_000),
    memoryMiB: limit(1e9).pipe(z.int().nullable()),
    diskGiB: limit(1e9).pipe(z.int().nullable()),
    gpus: limit(100_000).pipe(z.int().nullable()),
  })
  .partial()
  .meta({ id: "QuotaLimits", description: "null or absent: no limit" });

export const QuotaUsage = z
  .object({
    boxes: z.int(),
    runningBoxes: z.int(),
    cpu: z.number(),
    memoryMiB: z.int(),
    diskGiB: z.int(),
    gpus: z.int(),
  })
  .meta({ id: "QuotaUsage" });

export const Quota = z
  .object({
    limits: z.object({
      maxBoxes: z.int().nullable(),
      maxRunningBoxes: z.int().nullable(),
      cpu: z.number().nullable(),
      memoryMiB: z.int().nullable(),
      diskGiB: z.int().nullable(),
      gpus: z.int().nullable(),
    }),
    usage: QuotaUsage,
  })
  .meta({ id: "Quota" });

export const getQuota = defineRoute({
  operationId: "getQuota",
  method: "GET",
  path: "/api/v1/orgs/:org/quota",
  summary: "The organisation's quota limits and what its boxes use now",
  tags: ["orgs"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  successStatus: 200,
  response: Quota,
  errors: ["org_not_found"],
});

export const setQuota = defineRoute({
  operationId: "setQuota",
  method: "PUT",
  path: "/api/v1/orgs/:org/quota",
  summary: "Set the organisation's quota (site admins); absent or null means no limit",
  tags: ["orgs"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  body: QuotaLimits,
  successStatus: 200,
  response: Quota,
  errors: ["org_not_found", "forbidden"],
});
