import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const User = z
  .object({
    id: Id,
    username: Name,
    email: z.string().nullable(),
    siteAdmin: z.boolean(),
    createdAt: Timestamp,
    /** Set while a site admin has suspended the user: no token, session or SSH login works. */
    suspendedAt: Timestamp.nullable(),
  })
  .meta({ id: "User" });
export type User = z.infer<typeof User>;

/** Token lifetimes are bounded: a leaked token dies on its own. */
const MAX_TOKEN_LIFETIME_S = 366 * 24 * 3600;

export const CreateTokenRequest = z.strictObject({
  name: Name,
  expiresIn: z
    .int()
    .min(60)
    .max(MAX_TOKEN_LIFETIME_S)
    .optional()
    .describe("Lifetime in seconds (default 30 days, at most 366 days)"),
});

export const TokenInfo = z
  .object({
    id: Id,
    name: z.string(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    lastUsedAt: Timestamp.nullable(),
  })
  .meta({ id: "TokenInfo" });

export const CreatedToken = TokenInfo.extend({
  token: z.string().describe("The secret; shown only in this response"),
}).meta({ id: "CreatedToken" });

export const CreateUserRequest = z.strictObject({
  username: Name,
  email: z.email().max(254).optional(),
  siteAdmin: z.boolean().optional(),
});

export const getMe = defineRoute({
  operationId: "getMe",
  method: "GET",
  path: "/api/v1/users/me",
  summary: "The authenticated caller",
  tags: ["users"],
  auth: "token",
  successStatus: 200,
  response: User,
});

export const createMyToken = defineRoute({
  operationId: "createMyToken",
  method: "POST",
  path: "/api/v1/users/me/tokens",
  summary: "Create an API token for the caller",
  tags: ["users"],
  auth: "token",
  body: CreateTokenRequest,
  successStatus: 201,
  response: CreatedToken,
});

export const listMyTokens = defineRoute({
  operationId: "listMyTokens",
  method: "GET",
  path: "/api/v1/users/me/tokens",
  summary: "List the caller's API tokens (never their secrets)",
  tags: ["users"],
  auth: "token",
  successStatus: 200,
  response: z.object({ items: z.array(TokenInfo) }),
});

export const revokeMyToken = defineRoute({
  operationId: "revokeMyToken",
  method: "DELETE",
  path: "/api/v1/users/me/tokens/:tokenId",
  summary: "Revoke one of the caller's API tokens",
  tags: ["users"],
  auth: "token",
  params: z.strictObject({ tokenId: Id }),
  successStatus: 204,
  response: z.null(),
  errors: ["token_not_found"],
});

export const createUser = defineRoute({
  operationId: "createUser",
  method: "POST",
  path: "/api/v1/users",
  summary: "Create a user (site admin only)",
  tags: ["users"],
  auth: "token",
  body: CreateUserRequest,
  successStatus: 201,
  response: User,
  errors: ["forbidden", "user_exists"],
});

export const createUserToken = defineRoute({
  operationId: "createUserToken",
  method: "POST",
  path: "/api/v1/users/:username/tokens",
  summary: "Mint an API token for a user (site admin only)",
  tags: ["users"],
  auth: "token",
  params: z.strictObject({ username: Name }),
  body: CreateTokenRequest,
  successStatus: 201,
  response: CreatedToken,
  errors: ["forbidden", "user_not_found"],
});

const UsernameParams = z.strictObject({ username: Name });

export const suspendUser = defineRoute({
  operationId: "suspendUser",
  method: "POST",
  path: "/api/v1/users/:username/suspend",
  summary:
    "(site admin) Suspend a user: every token and browser session is revoked and open SSH and terminal sessions are closed; undo with unsuspend",
  tags: ["users"],
  auth: "token",
  params: UsernameParams,
  successStatus: 200,
  response: User,
  errors: ["forbidden", "user_not_found", "validation_failed"],
});

export const unsuspendUser = defineRoute({
  operationId: "unsuspendUser",
  method: "POST",
  path: "/api/v1/users/:username/unsuspend",
  summary: "(site admin) Lift a suspension; revoked tokens stay revoked (mint new ones)",
  tags: ["users"],
  auth: "token",
  params: UsernameParams,
  successStatus: 200,
  response: User,
  errors: ["forbidden", "user_not_found"],
});

export const deleteUser = defineRoute({
  operationId: "deleteUser",
  method: "DELETE",
  path: "/api/v1/users/:username",
  summary:
    "(site admin) Delete a user: tokens, sessions and SSH keys go, open sessions are closed; their boxes stay for their orgs' admins to keep or delete",
  tags: ["users"],
  auth: "token",
  params: UsernameParams,
  successStatus: 204,
  response: z.null(),
  errors: ["forbidden", "user_not_found", "validation_failed"],
});
