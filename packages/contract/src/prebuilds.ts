// Prebuilds (issue 7): a template version's image with its repository
// checked out at one commit and its `init` commands run, kept as a layer new
// boxes start from. Queued on template push (when the template has a
// repository or init commands) and on request; each has a status, the commit
// it holds and a log. A box records the prebuild it came from.

import { PrebuildClaim, PrebuildUpdate } from "@boxyard/agent-protocol";
import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";
import { BuildUpdateAck } from "@boxyard/agent-protocol";

export const Prebuild = z
  .object({
    id: z.string(),
    template: Name,
    version: z.int(),
    /** The ref it checked out (null: the repository's default branch, or no repository). */
    ref: z.string().nullable(),
    status: z.enum(["queued", "building", "ready", "failed"]),
    /** What queued it: a template push, or someone's request. */
    trigger: z.enum(["push", "request"]),
    requestedBy: z.string().nullable(),
    /** With ready: the commit it holds (null without a repository). */
    commit: z.string().nullable(),
    /** With ready: the layer boxes start from. */
    layer: z.string().nullable(),
    /** With failed: why (the log has the whole story). */
    error: z.string().nullable(),
    node: z.string().nullable(),
    attempts: z.int(),
    createdAt: Timestamp,
    startedAt: Timestamp.nullable(),
    finishedAt: Timestamp.nullable(),
    elapsedSeconds: z.number().nullable(),
    logSize: z.int(),
  })
  .meta({ id: "Prebuild" });
export type Prebuild = z.infer<typeof Prebuild>;

const TemplateParams = z.strictObject({ org: Name, name: Name });
const PrebuildParams = TemplateParams.extend({ prebuild: z.string().regex(/^pb_[0-9a-z]{20}$/) });

export const createPrebuild = defineRoute({
  operationId: "createPrebuild",
  method: "POST",
  path: "/api/v1/orgs/:org/templates/:name/prebuilds",
  summary:
    "Queue a prebuild of a template version (default: the latest) for a ref (default: the template's); one already queued for the same version and ref is answered instead (org owners and admins)",
  tags: ["templates"],
  auth: "token",
  params: TemplateParams,
  body: z
    .strictObject({
      version: z.int().min(1).optional(),
      ref: z
        .string()
        .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}$/, "must be a branch, tag or commit id")
        .optional(),
    })
    .default({}),
  successStatus: 202,
  response: Prebuild,
  errors: ["org_not_found", "forbidden", "template_not_found", "validation_failed"],
});

export const listPrebuilds = defineRoute({
  operationId: "listPrebuilds",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/prebuilds",
  summary: "A template's prebuilds, newest first (optionally of one version)",
  tags: ["templates"],
  auth: "token",
  params: TemplateParams,
  query: z.strictObject({
    version: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  successStatus: 200,
  response: z.object({ items: z.array(Prebuild) }),
  errors: ["org_not_found", "template_not_found"],
});

export const getPrebuild = defineRoute({
  operationId: "getPrebuild",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/prebuilds/:prebuild",
  summary: "One prebuild: status, commit, layer, node and timings",
  tags: ["templates"],
  auth: "token",
  params: PrebuildParams,
  successStatus: 200,
  response: Prebuild,
  errors: ["org_not_found", "template_not_found", "prebuild_not_found"],
});

export const getPrebuildLogs = defineRoute({
  operationId: "getPrebuildLogs",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/prebuilds/:prebuild/logs",
  summary:
    "The prebuild's log as text (its last 1 MiB) from character `offset` (up to `end`); with follow=1 a Server-Sent Event stream: `log` events, then one `end` event with the prebuild when it is ready or failed",
  tags: ["templates"],
  auth: "token",
  params: PrebuildParams,
  query: z.strictObject({
    offset: z.coerce.number().int().min(0).default(0),
    end: z.coerce.number().int().min(0).optional(),
    follow: z.enum(["0", "1", "true", "false"]).optional(),
  }),
  successStatus: 200,
  response: z.string(),
  contentType: "text/plain; charset=utf-8",
  errors: ["org_not_found", "template_not_found", "prebuild_not_found"],
});

const NodeParams = z.strictObject({ node: z.string().regex(/^node_[0-9a-z]{20}$/) });

export const agentPrebuildClaim = defineRoute({
  operationId: "agentPrebuildClaim",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/prebuilds/claim",
  summary: "Claim the next prebuild for this node; long-polls up to waitMs (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  query: z.strictObject({ waitMs: z.coerce.number().int().min(0).max(60_000).default(0) }),
  successStatus: 200,
  response: PrebuildClaim,
  errors: ["unauthorized"],
});

export const agentPrebuildUpdate = defineRoute({
  operationId: "agentPrebuildUpdate",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/prebuilds/:prebuild",
  summary: "Progress of a claimed prebuild: log text, then ready or failed (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams.extend({ prebuild: z.string().regex(/^pb_[0-9a-z]{20}$/) }),
  body: PrebuildUpdate,
  successStatus: 200,
  response: BuildUpdateAck,
  errors: ["unauthorized"],
});
