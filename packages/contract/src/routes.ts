import * as agent from "./agent.ts";
import * as audit from "./audit.ts";
import * as boxHistory from "./box-history.ts";
import * as boxes from "./boxes.ts";
import * as gateway from "./gateway.ts";
import * as images from "./images.ts";
import * as nodes from "./nodes.ts";
import type { RouteDef } from "./route.ts";
import * as sshKeys from "./ssh-keys.ts";
import * as orgs from "./orgs.ts";
import * as pools from "./pools.ts";
import * as ports from "./ports.ts";
import * as prebuilds from "./prebuilds.ts";
import * as quotas from "./quotas.ts";
import * as secrets from "./secrets.ts";
import * as system from "./system.ts";
import * as teams from "./teams.ts";
import * as templateBuilds from "./template-builds.ts";
import * as templates from "./templates.ts";
import * as terminal from "./terminal.ts";
import * as usage from "./usage.ts";
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
  system.serverInfo,
  users.getMe,
  users.listMyTokens,
  users.createMyToken,
  users.revokeMyToken,
  users.createUser,
  users.createUserToken,
  users.suspendUser,
  users.unsuspendUser,
  users.deleteUser,
  sshKeys.addMySshKey,
  sshKeys.listMySshKeys,
  sshKeys.deleteMySshKey,
  orgs.createOrg,
  orgs.listOrgs,
  orgs.getOrg,
  orgs.setOrgMember,
  orgs.removeOrgMember,
  orgs.listOrgMembers,
  quotas.getQuota,
  quotas.setQuota,
  teams.createTeam,
  teams.listTeams,
  teams.listTeamMembers,
  teams.setTeamMember,
  teams.removeTeamMember,
  teams.getTeamQuota,
  teams.setTeamQuota,
  templates.createTemplate,
  templates.listTemplates,
  templates.listTemplateVersions,
  pools.setTemplatePool,
  pools.getTemplatePool,
  templateBuilds.getTemplateBuild,
  templateBuilds.getTemplateBuildLogs,
  templateBuilds.retryTemplateBuild,
  prebuilds.createPrebuild,
  prebuilds.listPrebuilds,
  prebuilds.getPrebuild,
  prebuilds.getPrebuildLogs,
  secrets.createSecret,
  secrets.listSecrets,
  secrets.deleteSecret,
  images.uploadImage,
  images.listImages,
  usage.getUsage,
  boxes.createBox,
  boxes.listBoxes,
  boxes.getBox,
  boxes.startBox,
  boxes.stopBox,
  boxes.pauseBox,
  boxes.resumeBox,
  boxes.deleteBox,
  boxes.execInBox,
  boxes.boxEvents,
  boxHistory.boxHistory,
  boxes.getOperation,
  terminal.createTerminalTicket,
  ports.listBoxPorts,
  ports.setBoxPort,
  audit.listAudit,
  audit.verifyAudit,
  nodes.listNodes,
  agent.agentRegister,
  agent.agentHeartbeat,
  agent.agentDesired,
  agent.agentReport,
  agent.agentCommands,
  agent.agentCommandReply,
  templateBuilds.agentBuildClaim,
  templateBuilds.agentBuildUpdate,
  images.agentImageArchive,
  secrets.agentBoxSecrets,
  prebuilds.agentPrebuildClaim,
  prebuilds.agentPrebuildUpdate,
  gateway.gatewayRegister,
  gateway.gatewayLookupKey,
  gateway.gatewayLookupBox,
  gateway.gatewayWake,
  gateway.gatewayEvents,
];
