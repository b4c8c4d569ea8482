// Template image builds (issue 7): pushing a template version requests a
// build of its image on a node; its status, timings and log are kept per
// version. A version whose build failed cannot make boxes; one still
// building can (the box waits in its creating states for the same build).

import { BuildClaim, BuildUpdate, BuildUpdateAck } from "@boxyard/agent-protocol";
import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const TemplateBuildStatus = z.enum(["queued", "building", "ready", "failed"]);

export const TemplateBuild = z
  .object({
    name: Name,
    version: z.int(),
    status: TemplateBuildStatus,
    /** With ready: the image's layer digests (content-addressed), lowest first. */
    layers: z.array(z.string()),
    /** With ready: the node already had the layers for this image, nothing was built. */
    cacheHit: z.boolean().nullable(),
    /** With failed: why (the log has the whole story). */
    error: z.string().nullable(),
    /** The node that built it (or is building it). */
    node: z.string().nullable(),
    attempts: z.int(),
    createdAt: Timestamp,
    startedAt: Timestamp.nullable(),
    finishedAt: Timestamp.nullable(),
    /** Seconds from start to finish, or to now while building. */
    elapsedSeconds: z.number().nullable(),
    /** Characters of log written so far; the next `offset` to ask the log for. */
    logSize: z.int(),
  })
  .meta({ id: "TemplateBuild" });
export type TemplateBuild = z.infer<typeof TemplateBuild>;

const VersionParams = z.strictObject({ org: Name, name: Name, version: z.coerce.number().int().min(1) });

export const getTemplateBuild = defineRoute({
  operationId: "getTemplateBuild",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/versions/:version/build",
  summary: "The image build of a template version: status, layers, node and timings",
  tags: ["templates"],
  auth: "token",
  params: VersionParams,
  successStatus: 200,
  response: TemplateBuild,
  errors: ["org_not_found", "template_not_found"],
});

export const getTemplateBuildLogs = defineRoute({
  operationId: "getTemplateBuildLogs",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/versions/:version/build/logs",
  summary:
    "The build's log as text (its last 1 MiB) from character `offset` (up to `end`); with follow=1 a Server-Sent Event stream instead: `log` events with text, then one `end` event with the build when it is ready or failed",
  tags: ["templates"],
  auth: "token",
  params: VersionParams,
  query: z.strictObject({
    offset: z.coerce.number().int().min(0).default(0),
    end: z.coerce.number().int().min(0).optional(),
    follow: z.enum(["0", "1", "true", "false"]).optional(),
  }),
  successStatus: 200,
  response: z.string(),
  contentType: "text/plain; charset=utf-8",
  errors: ["org_not_found", "template_not_found"],
});

export const retryTemplateBuild = defineRoute({
  operationId: "retryTemplateBuild",
  method: "POST",
  path: "/api/v1/orgs/:org/templates/:name/versions/:version/build",
  summary:
    "Build a version's image again after its build failed (a transient failure such as an unreachable mirror); 409 unless it failed (org owners and admins)",
  tags: ["templates"],
  auth: "token",
  params: VersionParams,
  successStatus: 202,
  response: TemplateBuild,
  errors: ["org_not_found", "forbidden", "template_not_found", "conflict"],
});

// The agent's end (node token), beside the routes in agent.ts.
const NodeParams = z.strictObject({ node: z.string().regex(/^node_[0-9a-z]{20}$/) });

export const agentBuildClaim = defineRoute({
  operationId: "agentBuildClaim",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/builds/claim",
  summary: "Claim the next template image build for this node; long-polls up to waitMs (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  query: z.strictObject({ waitMs: z.coerce.number().int().min(0).max(60_000).default(0) }),
  successStatus: 200,
  response: BuildClaim,
  errors: ["unauthorized"],
});

export const agentBuildUpdate = defineRoute({
  operationId: "agentBuildUpdate",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/builds/:build",
  summary: "Progress of a claimed build: log text, then ready or failed (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams.extend({ build: z.string().regex(/^bld_[0-9a-z]{20}$/) }),
  body: BuildUpdate,
  successStatus: 200,
  response: BuildUpdateAck,
  errors: ["unauthorized"],
});
