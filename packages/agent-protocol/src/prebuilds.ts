// Prebuilds, between the control plane and a node agent (as builds.ts is
// for image builds): the agent claims a prebuild (long poll), runs it in a
// throw-away box of the template (checkout, then the `init` commands, as the
// box user), keeps the result as a layer in its store, and reports log text
// as it goes, then ready (the commit and the layer) or failed (the reason).
// The repository's credential reaches the throw-away box as a box's secrets
// do (ControlPlaneLink.fetchBoxSecrets with the prebuild's id): org secrets only.

import { z } from "zod";
import { BoxRepo, BoxResources, EgressPolicy, ImageSpec } from "./schemas.ts";

export const PrebuildJob = z.strictObject({
  id: z.string().regex(/^pb_[0-9a-z]{20}$/),
  /** 1 on the first claim; more when an earlier node stopped reporting. */
  attempt: z.int().positive(),
  image: ImageSpec,
  resources: BoxResources,
  network: z.strictObject({ egress: EgressPolicy }),
  repo: BoxRepo.optional(),
  init: z.array(z.string()).max(50),
  env: z.record(z.string(), z.string()).optional(),
  /** Secret names the throw-away box gets (the repository's credential among them). */
  secrets: z.array(z.string()).max(100),
});
export type PrebuildJob = z.infer<typeof PrebuildJob>;

export const PrebuildClaim = z.strictObject({ prebuild: PrebuildJob.nullable() });
export type PrebuildClaim = z.infer<typeof PrebuildClaim>;

export const PrebuildUpdate = z.strictObject({
  status: z.enum(["building", "ready", "failed"]),
  log: z
    .string()
    .max(256 * 1024)
    .optional(),
  /** With ready: the commit checked out (absent without a repository). */
  commit: z
    .string()
    .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/)
    .optional(),
  /** With ready: the layer holding the result, in the node's layer store. */
  layer: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
  error: z.string().max(4000).optional(),
});
export type PrebuildUpdate = z.infer<typeof PrebuildUpdate>;
