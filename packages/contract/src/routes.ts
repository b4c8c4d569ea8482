import type { RouteDef } from "./route.ts";
import * as orgs from "./orgs.ts";
import * as system from "./system.ts";
import * as users from "./users.ts";

/**
 * Every route of the public API. The server refuses to start if a route here
 * has no handler, and a test fails if a handler is registered for a route not
 * listed here, so the OpenAPI document is always complete.
 */
export const allRoutes: readonly RouteDef[] = [
  system.healthz,
  system.readyz,
  system.metrics,
  system.openapi,
  users.getMe,
  users.listMyTokens,
  users.createMyToken,
  users.revokeMyToken,
  users.createUser,
  users.createUserToken,
  orgs.createOrg,
  orgs.listOrgs,
  orgs.getOrg,
  orgs.setOrgMember,
  orgs.listOrgMembers,
];
