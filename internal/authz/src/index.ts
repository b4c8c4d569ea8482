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
