export { type Authorizer, type Check, checkLabel, rbacAuthorizer } from "./checks.ts";
export { NoActorError, NotAuthorized } from "./errors.ts";
export { assertOwnsOrPrivileged, authorizeOrg, type OrgAccess } from "./org-access.ts";
export {
  type Action,
  ORG_ROLES,
  OWNER_SCOPED_BOX_ACTIONS,
  type OrgRole,
  permissions,
  type Resource,
  roleAllows,
} from "./permissions.ts";
export { policies } from "./policies.ts";
export type { Policy, QueryArgs, QueryName } from "./policy.ts";
export { type AuthorizedStore, authorizedStore, STORE_METHODS, type StoreOptions } from "./store.ts";
