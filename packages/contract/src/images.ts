// Image archives uploaded to an org (issue 7): an OCI image layout or a
// `docker save` archive, sent as the raw request body (Content-Type
// application/x-tar or application/octet-stream), size-limited by the
// server, checked entry by entry at upload and stored content-addressed. A
// template then names it: `image: { oci: "sha256:<digest>" }`.

import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

export const OciImage = z
  .object({
    /** sha256 of the archive as uploaded; what templates name. */
    digest: z.string(),
    sizeBytes: z.int(),
    format: z.enum(["oci", "docker"]),
    layers: z.int(),
    allowSetuid: z.boolean(),
    /** The image config's Env ("NAME=value" each): the base of the environment of boxes made from it. */
    env: z.array(z.string()),
    createdBy: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: "OciImage" });
export type OciImage = z.infer<typeof OciImage>;

export const uploadImage = defineRoute({
  operationId: "uploadImage",
  method: "POST",
  path: "/api/v1/orgs/:org/images",
  summary:
    "Upload an image archive (OCI image layout or docker save tar) as the raw body (Content-Type application/x-tar); every entry is checked (no absolute or .. paths, link escapes, devices, setuid unless allowSetuid=1, size limits) and the archive stored by its sha256 (org owners and admins)",
  tags: ["images"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  query: z.strictObject({ allowSetuid: z.enum(["0", "1", "true", "false"]).optional() }),
  successStatus: 201,
  response: OciImage,
  errors: [
    "org_not_found",
    "forbidden",
    "payload_too_large",
    "image_invalid",
    "image_unsafe",
    "image_too_large",
  ],
});

export const listImages = defineRoute({
  operationId: "listImages",
  method: "GET",
  path: "/api/v1/orgs/:org/images",
  summary: "The org's uploaded image archives, newest first",
  tags: ["images"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  successStatus: 200,
  response: z.object({ items: z.array(OciImage) }),
  errors: ["org_not_found"],
});

export const agentImageArchive = defineRoute({
  operationId: "agentImageArchive",
  method: "GET",
  path: "/api/v1/agent/nodes/:node/images/:digest",
  summary: "An uploaded image archive, for a node that unpacks it (node token)",
  tags: ["agent"],
  auth: "none",
  params: z.strictObject({
    node: z.string().regex(/^node_[0-9a-z]{20}$/),
    digest: z.string().regex(IMAGE_DIGEST),
  }),
  successStatus: 200,
  response: z.string(),
  contentType: "application/x-tar",
  errors: ["unauthorized", "image_not_found"],
});
