// Secret values for one box, from the control plane to the node that runs
// it. The desired set names the secrets a box gets (never their values);
// the agent asks for the values only when it is about to write them into the
// running box, and keeps them no longer than that write takes.

import { z } from "zod";

/** A secret's name: also its file name in the box and an environment variable's name. */
export const SecretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be a letter or _, then letters, digits or _ (at most 128)");

export const BoxSecretValues = z.strictObject({
  /** Values as base64 (a value may be any bytes). */
  secrets: z.array(z.strictObject({ name: SecretName, value: z.string() })),
  /** Names the box asks for that no scope it can see holds. */
  missing: z.array(SecretName),
});
export type BoxSecretValues = z.infer<typeof BoxSecretValues>;

/** Where a box's secrets appear inside it (contract.md "Inside a box"). */
export const BOX_SECRETS_DIR = "/run/boxyard/secrets";
