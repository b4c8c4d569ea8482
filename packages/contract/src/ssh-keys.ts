import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const SshKey = z
  .object({
    id: Id,
    name: z.string(),
    type: z.string(),
    fingerprint: z.string().describe("SHA256 fingerprint, as `ssh-keygen -l` prints it"),
    publicKey: z.string(),
    createdAt: Timestamp,
    lastUsedAt: Timestamp.nullable(),
  })
  .meta({ id: "SshKey" });

export const addMySshKey = defineRoute({
  operationId: "addMySshKey",
  method: "POST",
  path: "/api/v1/users/me/ssh-keys",
  summary: "Register an SSH public key for logging in to boxes through the gateway",
  tags: ["users"],
  auth: "token",
  body: z.strictObject({
    name: Name,
    publicKey: z.string().min(16).max(16_384).describe("One line of an authorized_keys / .pub file"),
  }),
  successStatus: 201,
  response: SshKey,
  errors: ["ssh_key_invalid", "ssh_key_exists"],
});

export const listMySshKeys = defineRoute({
  operationId: "listMySshKeys",
  method: "GET",
  path: "/api/v1/users/me/ssh-keys",
  summary: "The caller's SSH public keys",
  tags: ["users"],
  auth: "token",
  successStatus: 200,
  response: z.object({ items: z.array(SshKey) }),
});

export const deleteMySshKey = defineRoute({
  operationId: "deleteMySshKey",
  method: "DELETE",
  path: "/api/v1/users/me/ssh-keys/:keyId",
  summary: "Remove one of the caller's SSH keys",
  tags: ["users"],
  auth: "token",
  params: z.strictObject({ keyId: Id }),
  successStatus: 204,
  response: z.null(),
  errors: ["ssh_key_not_found"],
});
