// Secrets (issue 7): named values an org keeps for its boxes, scoped to the
// org, one team, or one user. Values go in and never come out of the API:
// listings show names, scopes and times; a box whose template lists a name
// receives the value as a file at run time (contract.md "Inside a box").

import { BoxSecretValues, SecretName } from "@boxyard/agent-protocol";
import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

/** "org", "user" (the caller's own) or "team:NAME". */
export const SecretScope = z
  .string()
  .regex(/^(org|user|team:[a-z0-9]([a-z0-9-]{0,62}))$/, 'must be "org", "user" or "team:NAME"');

export const Secret = z
  .object({
    name: SecretName,
    /** "org", "team:NAME" or "user:USERNAME". */
    scope: z.string(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: "Secret" });

/** At most 64 KiB: a token, a key, a small credentials file. */
export const SECRET_MAX_BYTES = 64 * 1024;

const OrgParams = z.strictObject({ org: Name });

export const createSecret = defineRoute({
  operationId: "createSecret",
  method: "POST",
  path: "/api/v1/orgs/:org/secrets",
  summary:
    "Set a secret {name, value, scope?}: scope org (default; owners and admins), team:NAME (owners and admins) or user (your own). The value is stored encrypted and never returned",
  tags: ["secrets"],
  auth: "token",
  params: OrgParams,
  body: z.strictObject({
    name: SecretName,
    value: z
      .string()
      .min(1, "must not be empty")
      .refine(
        (v) => Buffer.byteLength(v, "utf8") <= SECRET_MAX_BYTES,
        `must be at most ${SECRET_MAX_BYTES} bytes`,
      ),
    scope: SecretScope.default("org"),
  }),
  successStatus: 200,
  response: Secret,
  errors: ["org_not_found", "team_not_found", "forbidden"],
  secretFields: ["value"],
});

export const listSecrets = defineRoute({
  operationId: "listSecrets",
  method: "GET",
  path: "/api/v1/orgs/:org/secrets",
  summary:
    "The org's secrets (names, scopes, times; never values): org and team ones, and your own user ones (owners and admins see every user's)",
  tags: ["secrets"],
  auth: "token",
  params: OrgParams,
  successStatus: 200,
  response: z.object({ items: z.array(Secret) }),
  errors: ["org_not_found", "forbidden"],
});

export const deleteSecret = defineRoute({
  operationId: "deleteSecret",
  method: "DELETE",
  path: "/api/v1/orgs/:org/secrets/:name",
  summary:
    "Delete a secret of a scope (?scope=org|user|team:NAME, default org); boxes get it no more at their next start",
  tags: ["secrets"],
  auth: "token",
  params: z.strictObject({ org: Name, name: SecretName }),
  query: z.strictObject({ scope: SecretScope.default("org") }),
  successStatus: 204,
  response: z.null(),
  errors: ["org_not_found", "team_not_found", "secret_not_found", "forbidden"],
});

// The agent's end (node token): a box's values, only for the node it runs on.
export const agentBoxSecrets = defineRoute({
  operationId: "agentBoxSecrets",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/boxes/:box/secrets",
  summary: "The values of the secrets a box of this node gets, to write into it while it runs (node token)",
  tags: ["agent"],
  auth: "none",
  params: z.strictObject({
    node: z.string().regex(/^node_[0-9a-z]{20}$/),
    box: z.string().regex(/^[a-z0-9_]{1,64}$/),
  }),
  successStatus: 200,
  response: BoxSecretValues,
  errors: ["unauthorized", "box_not_found"],
});
