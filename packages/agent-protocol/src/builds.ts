// Template image builds, between the control plane and a node agent. The
// control plane queues one build per template version; an agent claims it
// (long poll), builds the image into its layer store and reports progress:
// log text as it comes, then ready (with the layers) or failed (with the
// reason). Each report renews the agent's lease on the build; an agent that
// stops reporting loses it and another node may take the build over.

import { z } from "zod";
import { ImageSpec } from "./schemas.ts";

export const BuildJob = z.strictObject({
  id: z.string(),
  image: ImageSpec,
  /** 1 on the first claim; more when an earlier node stopped reporting or a failed build was retried. */
  attempt: z.int().positive(),
});
export type BuildJob = z.infer<typeof BuildJob>;

export const BuildClaim = z.strictObject({ build: BuildJob.nullable() });
export type BuildClaim = z.infer<typeof BuildClaim>;

export const BuildUpdate = z.strictObject({
  status: z.enum(["building", "ready", "failed"]),
  /** Log text since the last update (lines with their newlines). */
  log: z
    .string()
    .max(256 * 1024)
    .optional(),
  /** With ready: the image's layer digests, lowest first. */
  layers: z
    .array(z.string().regex(/^sha256:[0-9a-f]{64}$/))
    .max(128)
    .optional(),
  /** With ready: the layers were already in the node's store, nothing was built. */
  cacheHit: z.boolean().optional(),
  /** With failed: why, for people. */
  error: z.string().max(4000).optional(),
});
export type BuildUpdate = z.infer<typeof BuildUpdate>;

export const BuildUpdateAck = z.strictObject({
  /** False: the build is not this node's any more; stop working on it. */
  accepted: z.boolean(),
});
export type BuildUpdateAck = z.infer<typeof BuildUpdateAck>;
