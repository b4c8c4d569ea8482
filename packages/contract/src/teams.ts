// Teams inside an org: a box may belong to a team (POST .../boxes {team}),
// and a team may have a quota of its own, set by the org's owners and admins
// to divide the org's quota; admission checks both.

import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { Quota, QuotaLimits } from "./quotas.ts";
import { defineRoute } from "./route.ts";

export const Team = z
  .object({
    id: Id,
    name: Name,
    members: z.int(),
    boxes: z.int(),
    createdAt: Timestamp,
  })
  .meta({ id: "Team" });

const OrgParams = z.strictObject({ org: Name });
const TeamParams = z.strictObject({ org: Name, team: Name });
const TeamMemberParams = z.strictObject({ org: Name, team: Name, username: Name });

export const createTeam = defineRoute({
  operationId: "createTeam",
  method: "POST",
  path: "/api/v1/orgs/:org/teams",
  summary: "Create a team (org owners and admins)",
  tags: ["orgs"],
  auth: "token",
  params: OrgParams,
  body: z.strictObject({ name: Name }),
  successStatus: 201,
  response: Team,
  errors: ["org_not_found", "forbidden", "team_exists"],
});

export const listTeams = defineRoute({
  operationId: "listTeams",
  method: "GET",
  path: "/api/v1/orgs/:org/teams",
  summary: "The org's teams with their member and box counts",
  tags: ["orgs"],
  auth: "token",
  params: OrgParams,
  successStatus: 200,
  response: z.object({ items: z.array(Team) }),
  errors: ["org_not_found"],
});

export const listTeamMembers = defineRoute({
  operationId: "listTeamMembers",
  method: "GET",
  path: "/api/v1/orgs/:org/teams/:team/members",
  summary: "A team's members",
  tags: ["orgs"],
  auth: "token",
  params: TeamParams,
  successStatus: 200,
  response: z.object({ items: z.array(z.object({ username: Name, addedAt: Timestamp })) }),
  errors: ["org_not_found", "team_not_found"],
});

export const setTeamMember = defineRoute({
  operationId: "setTeamMember",
  method: "PUT",
  path: "/api/v1/orgs/:org/teams/:team/members/:username",
  summary: "Add an org member to a team (org owners and admins)",
  tags: ["orgs"],
  auth: "token",
  params: TeamMemberParams,
  body: z.strictObject({}),
  successStatus: 200,
  response: z.object({ team: Name, username: Name }),
  errors: ["org_not_found", "team_not_found", "user_not_found", "forbidden"],
});

export const removeTeamMember = defineRoute({
  operationId: "removeTeamMember",
  method: "DELETE",
  path: "/api/v1/orgs/:org/teams/:team/members/:username",
  summary: "Take someone off a team (org owners and admins); their boxes stay in the team",
  tags: ["orgs"],
  auth: "token",
  params: TeamMemberParams,
  successStatus: 204,
  response: z.null(),
  errors: ["org_not_found", "team_not_found", "user_not_found", "forbidden"],
});

export const getTeamQuota = defineRoute({
  operationId: "getTeamQuota",
  method: "GET",
  path: "/api/v1/orgs/:org/teams/:team/quota",
  summary: "The team's quota limits and what its boxes use now",
  tags: ["orgs"],
  auth: "token",
  params: TeamParams,
  successStatus: 200,
  response: Quota,
  errors: ["org_not_found", "team_not_found"],
});

export const setTeamQuota = defineRoute({
  operationId: "setTeamQuota",
  method: "PUT",
  path: "/api/v1/orgs/:org/teams/:team/quota",
  summary: "Set the team's quota (org owners and admins); absent or null means no limit beyond the org's",
  tags: ["orgs"],
  auth: "token",
  params: TeamParams,
  body: QuotaLimits,
  successStatus: 200,
  response: Quota,
  errors: ["org_not_found", "team_not_found", "forbidden"],
});
