// Warm pools: per template, a number of ready, ownerless boxes that a create
// of that template claims instead of booting one (issue 9). The size is
// operational configuration, not part of a template version: changing it
// mints no version. Pooled boxes are invisible to users and hold none of the
// org's quota until claimed; a claim is admitted like any create.

import { z } from "zod";
import { Name } from "./common.ts";
import { defineRoute } from "./route.ts";

export const WarmPool = z
  .object({
    template: Name,
    /** Boxes asked for. */
    size: z.int(),
    /** Boxes kept: size capped by what the org's quota could still admit. */
    target: z.int(),
    /** Claimable now. */
    ready: z.int(),
    /** On their way to ready. */
    starting: z.int(),
    /** Of an older template version (or extra): being removed. */
    draining: z.int(),
    /** The template version the pool's boxes run; null before the first fill. */
    templateVersion: z.int().nullable(),
    lastError: z.string().nullable(),
  })
  .meta({ id: "WarmPool" });

const PoolParams = z.strictObject({ org: Name, name: Name });

export const setTemplatePool = defineRoute({
  operationId: "setTemplatePool",
  method: "PUT",
  path: "/api/v1/orgs/:org/templates/:name/pool",
  summary:
    "Keep this many ready boxes of the template (its latest version) for creates to claim; 0 empties the pool (org owners and admins)",
  tags: ["templates"],
  auth: "token",
  params: PoolParams,
  body: z.strictObject({ size: z.int().min(0).max(50) }),
  successStatus: 200,
  response: WarmPool,
  errors: ["org_not_found", "forbidden", "template_not_found"],
});

export const getTemplatePool = defineRoute({
  operationId: "getTemplatePool",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/pool",
  summary: "The template's warm pool: size, target, and boxes ready, starting and draining",
  tags: ["templates"],
  auth: "token",
  params: PoolParams,
  successStatus: 200,
  response: WarmPool,
  errors: ["org_not_found", "template_not_found"],
});
