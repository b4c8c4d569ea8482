import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const OrgRole = z.enum(["owner", "admin", "member", "viewer", "auditor"]);

export const Org = z
  .object({
    id: Id,
    name: Name,
    createdAt: Timestamp,
    /** The caller's role in this org (null for a site admin who is not a member). */
    role: OrgRole.nullable(),
  })
  .meta({ id: "Org" });

export const Membership = z
  .object({ org: Name, username: Name, role: OrgRole, createdAt: Timestamp })
  .meta({ id: "Membership" });

const OrgParams = z.strictObject({ org: Name });

export const createOrg = defineRoute({
  operationId: "createOrg",
  method: "POST",
  path: "/api/v1/orgs",
  summary: "Create an organisation; the caller becomes its owner",
  tags: ["orgs"],
  auth: "token",
  body: z.strictObject({ name: Name }),
  successStatus: 201,
  response: Org,
  errors: ["org_exists"],
});

export const listOrgs = defineRoute({
  operationId: "listOrgs",
  method: "GET",
  path: "/api/v1/orgs",
  summary: "Organisations the caller belongs to (all of them for a site admin)",
  tags: ["orgs"],
  auth: "token",
  successStatus: 200,
  response: z.object({ items: z.array(Org) }),
});

export const getOrg = defineRoute({
  operationId: "getOrg",
  method: "GET",
  path: "/api/v1/orgs/:org",
  summary: "One organisation",
  tags: ["orgs"],
  auth: "token",
  params: OrgParams,
  successStatus: 200,
  response: Org,
  errors: ["org_not_found"],
});

export const setOrgMember = defineRoute({
  operationId: "setOrgMember",
  method: "PUT",
  path: "/api/v1/orgs/:org/members/:username",
  summary: "Add a member or change their role",
  tags: ["orgs"],
  auth: "token",
  params: z.strictObject({ org: Name, username: Name }),
  body: z.strictObject({ role: OrgRole }),
  successStatus: 200,
  response: Membership,
  errors: ["org_not_found", "user_not_found", "forbidden"],
});

export const removeOrgMember = defineRoute({
  operationId: "removeOrgMember",
  method: "DELETE",
  path: "/api/v1/orgs/:org/members/:username",
  summary:
    "Take someone out of an organisation (owners and admins; only an owner removes an owner; the last owner stays); they leave its teams too, their boxes stay",
  tags: ["orgs"],
  auth: "token",
  params: z.strictObject({ org: Name, username: Name }),
  successStatus: 204,
  response: z.null(),
  errors: ["org_not_found", "user_not_found", "forbidden"],
});

export const listOrgMembers = defineRoute({
  operationId: "listOrgMembers",
  method: "GET",
  path: "/api/v1/orgs/:org/members",
  summary: "Members of an organisation and their roles",
  tags: ["orgs"],
  auth: "token",
  params: OrgParams,
  successStatus: 200,
  response: z.object({ items: z.array(Membership) }),
  errors: ["org_not_found"],
});
