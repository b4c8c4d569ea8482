// One entry per query of @boxyard/db: the check a user's call must pass
// and the system actors that may call it. The type below makes a missing
// entry a compile error; store.test.ts (B2) proves each entry is enforced.
//
// Adding a query: write it in internal/db/src/queries (exported from the
// package), give it an entry here (inOrg/onBox/via for org permissions, self
// for a user's own records, siteAdmin, systemOnly with the loops that need
// it, or open with the reason that is safe), and a sample call in
// store.test.ts. Callers reach it as `store.name(...)`, never directly.

import type { Check } from "./checks.ts";
import {
  inOrg,
  onBox,
  open,
  type Policy,
  type QueryArgs,
  type QueryName,
  self,
  siteAdmin,
  systemOnly,
  via,
} from "./policy.ts";

/** The box action a desired state asks for (resume and start both want "running"). */
function actionForDesired(state: string): string {
  return (
    ({ running: "start", stopped: "stop", paused: "pause", deleted: "delete" } as Record<string, string>)[
      state
    ] ?? state
  );
}

/** Who admits boxes against quotas besides users: warm pools, and the gateway waking a box on connect. */
const ADMITTERS = ["pool-manager", "gateway"] as const;

export type Policies = { [K in QueryName]: Policy<QueryArgs<K>> };

export const policies = {
  // box-events
  insertBoxEvent: inOrg("box", "create", "box_not_found", ([e]) => e.orgId, ["reconciler", "pool-manager"]),
  listBoxEventsAfter: onBox("read", ([boxId]) => boxId),
  lastBoxEventId: onBox("read", ([boxId]) => boxId),
  listBoxHistory: onBox("read", ([q]) => q.boxId),
  notifyBoxChanged: open("a wake-up that carries only a box id; reconcilers re-read the box as themselves"),

  // box-ports
  listBoxPorts: onBox("read", ([boxId]) => boxId, ["gateway"]),
  getBoxPort: onBox("read", ([boxId]) => boxId, ["gateway"]),
  upsertBoxPort: onBox("share", ([p]) => p.boxId),
  deleteBoxPort: onBox("share", ([boxId]) => boxId),
  findSharedPort: systemOnly("gateway"),

  // box-queue: the reconciler's work queue
  claimDueBoxes: systemOnly("reconciler"),
  renewBoxLease: systemOnly("reconciler"),
  releaseBoxLease: systemOnly("reconciler"),
  recordBoxAttemptFailure: systemOnly("reconciler"),
  enqueueAllBoxes: systemOnly("reconciler", "bootstrap"),
  getBoxQueueStats: systemOnly("metrics"),
  countBoxesByActualState: systemOnly("metrics"),

  // boxes
  insertBox: inOrg("box", "create", "org_not_found", ([b]) => b.orgId, ["pool-manager"]),
  getBoxById: onBox("read", ([id]) => id, ["reconciler", "gateway", "pool-manager", "agent"]),
  getBoxByIdForUpdate: onBox("read", ([id]) => id, ["reconciler", "pool-manager", "gateway"]),
  getBoxViewById: onBox("read", ([id]) => id, ["gateway"]),
  getLiveBoxByName: inOrg("box", "read", "box_not_found", ([orgId]) => orgId, ["gateway"]),
  listBoxesByOrg: inOrg("box", "read", "org_not_found", ([orgId]) => orgId),
  setBoxDesiredState: onBox(
    (a) => actionForDesired(a[0].desiredState),
    ([b]) => b.id,
    ["pool-manager", "gateway"],
  ),
  updateBoxFenced: systemOnly("reconciler"),
  applyAgentReport: systemOnly("agent"),
  recordOomKills: systemOnly("agent"),

  // gateways
  upsertGateway: siteAdmin("registering gateways", ["gateway"]),
  getGatewayById: systemOnly("gateway"),
  touchGateway: systemOnly("gateway"),
  // The gateway's directory: which user a key is, which box a session goes to (it checks box.connect on the rows).
  getSshKeyOwnerByFingerprint: systemOnly("gateway"),
  listConnectCandidates: systemOnly("gateway"),
  currentGateway: open("the SSH gateway's public address and host keys, which every client is told"),

  // idempotency keys belong to the user who sent the request
  claimIdempotencyKey: self(([k]) => k.userId, "forbidden"),
  getIdempotencyKey: self(([userId]) => userId, "forbidden"),
  completeIdempotencyKey: self(([k]) => k.userId, "forbidden"),
  releaseIdempotencyKey: self(([k]) => k.userId, "forbidden"),

  // identities: read and written while signing in, before there is a user to act as
  getUserByIdentity: systemOnly("authenticator"),
  getUnlinkedUserByEmail: systemOnly("authenticator"),
  insertIdentity: systemOnly("authenticator"),
  touchIdentity: systemOnly("authenticator"),

  // node commands: the control plane's link to node agents
  insertNodeCommand: systemOnly("agent"),
  claimNodeCommands: systemOnly("agent"),
  completeNodeCommand: systemOnly("agent"),
  getNodeCommand: systemOnly("agent"),
  deleteNodeCommand: systemOnly("agent"),
  deleteExpiredNodeCommands: systemOnly("janitor"),

  // nodes
  upsertNode: systemOnly("agent"),
  recordNodeHeartbeat: systemOnly("agent"),
  getNodeById: systemOnly("agent"),
  getNodeByName: systemOnly("agent", "bootstrap"),
  listNodesWithAllocation: siteAdmin("the node list", ["scheduler", "reconciler"]),
  bumpNodeDesiredVersion: open(
    "a version bump that makes a node re-read its desired set, which is authorised data",
  ),
  getNodeDesiredSet: systemOnly("agent"),
  getNodeDesiredVersion: systemOnly("agent"),
  lockScheduler: systemOnly("reconciler", "scheduler"),
  setNodeTokenHash: siteAdmin("registering nodes", ["agent", "bootstrap"]),
  setBoxPauseMode: onBox("pause", ([boxId]) => boxId, ["reconciler"]),

  // OCI images
  insertOciImage: inOrg("template", "write", "org_not_found", ([i]) => i.orgId),
  getOciImage: inOrg("template", "read", "image_not_found", ([orgId]) => orgId),
  ociImageAllowsSetuid: systemOnly("agent", "reconciler"),
  listOciImages: inOrg("template", "read", "org_not_found", ([orgId]) => orgId),

  // operations
  insertOperation: onBox(
    (a) => (a[0].kind === "create" ? "create" : a[0].kind),
    ([o]) => o.boxId,
    ["reconciler", "pool-manager", "gateway"],
  ),
  getOperationById: via("operation", "box", "read", ([id]) => id),
  completeOperations: systemOnly("reconciler"),

  // orgs and members
  insertOrg: open("any user may found an org; its first member becomes its owner"),
  listOrgsForUser: {
    needs: "self",
    systems: [],
    user: ([userId, opts]): Check =>
      opts.all
        ? { kind: "site-admin", what: "every org" }
        : { kind: "self", userId, notFound: "user_not_found" },
  },
  getOrgWithRole: inOrg("org", "read", "org_not_found", ([orgId]) => orgId, ["gateway"]),
  upsertOrgMember: {
    needs: "member.set",
    systems: [],
    user: async ([m], look): Promise<Check> =>
      (await look.orgHasMembers(m.orgId))
        ? { kind: "org", orgId: m.orgId, resource: "member", action: "set", notFound: "org_not_found" }
        : { kind: "open", why: "the founding owner of an org that has no members yet" },
  },
  deleteOrgMember: inOrg("member", "set", "org_not_found", ([orgId]) => orgId),
  countOrgOwners: inOrg("member", "read", "org_not_found", ([orgId]) => orgId),
  listOrgMembersByOrg: inOrg("member", "read", "org_not_found", ([orgId]) => orgId),

  // warm pools
  upsertPool: inOrg("template", "write", "org_not_found", ([p]) => p.orgId),
  notifyPoolChanged: open("a wake-up for the pool manager that carries only a name"),
  listPoolStatus: {
    needs: "template.read",
    systems: ["metrics", "pool-manager"],
    user: ([orgId]): Check =>
      orgId === undefined
        ? { kind: "site-admin", what: "every org's pools" }
        : { kind: "org", orgId, resource: "template", action: "read", notFound: "org_not_found" },
  },
  getPoolStatus: inOrg("template", "read", "org_not_found", ([orgId]) => orgId),
  listActivePools: systemOnly("pool-manager"),
  listPooledBoxes: systemOnly("pool-manager"),
  recordPoolDecision: systemOnly("pool-manager"),
  getPoolById: systemOnly("pool-manager"),
  tryLockPool: systemOnly("pool-manager"),
  claimPooledBox: inOrg("box", "create", "org_not_found", ([c]) => c.orgId),
  hasClaimablePooledBox: inOrg("box", "create", "org_not_found", ([c]) => c.orgId),
  // Pool priority: users' boxes take precedence over warm-pool boxes for a node's room.
  listPooledHolds: systemOnly("reconciler"),
  evictPooledBox: systemOnly("reconciler"),
  listBoxesWaitingForRoom: systemOnly("reconciler"),
  wakeBoxesWaitingForRoom: systemOnly("reconciler"),

  // quotas
  getOrgQuota: inOrg("quota", "read", "org_not_found", ([orgId]) => orgId, ADMITTERS),
  getTeamQuota: via("team", "quota", "read", ([teamId]) => teamId, ADMITTERS),
  setOrgQuota: siteAdmin("an org's quota"),
  setTeamQuota: via("team", "quota", "set", ([teamId]) => teamId),
  getOrgUsage: inOrg("quota", "read", "org_not_found", ([orgId]) => orgId, ADMITTERS),
  getTeamUsage: via("team", "quota", "read", ([teamId]) => teamId, ADMITTERS),
  // Admission takes these locks for creates, starts and resumes, which members may all do.
  lockOrgForAdmission: inOrg("box", "create", "org_not_found", ([orgId]) => orgId, ADMITTERS),
  lockTeamForAdmission: via("team", "box", "create", ([teamId]) => teamId, ADMITTERS),

  // browser sessions
  insertSession: self(([s]) => s.userId, "forbidden", ["authenticator"]),
  getActiveSessionWithUser: systemOnly("authenticator"),
  revokeSession: {
    needs: "self",
    systems: ["authenticator"],
    user: async ([id], look): Promise<Check> => {
      const s = await look.session(id);
      return s
        ? { kind: "self", userId: s.user_id, notFound: "forbidden" }
        : { kind: "absent", what: "session" };
    },
  },

  // SSH keys
  insertSshKey: self(([k]) => k.userId, "user_not_found"),
  listSshKeysByUser: self(([userId]) => userId, "user_not_found", ["gateway"]),
  deleteSshKey: self(([userId]) => userId, "ssh_key_not_found"),

  // teams
  insertTeam: inOrg("org", "manage", "org_not_found", ([t]) => t.orgId),
  getTeamByName: inOrg("org", "read", "team_not_found", ([orgId]) => orgId),
  listTeams: inOrg("org", "read", "org_not_found", ([orgId]) => orgId),
  listTeamMembers: via("team", "member", "read", ([teamId]) => teamId),
  addTeamMember: via("team", "org", "manage", ([teamId]) => teamId),
  removeTeamMember: via("team", "org", "manage", ([teamId]) => teamId),
  isTeamMember: via("team", "org", "read", ([teamId]) => teamId),
  // (lockTeamForAdmission is with the quotas above.)

  // template builds
  insertTemplateBuild: via("template", "template", "write", ([b]) => b.templateId),
  getTemplateBuild: via("template", "template", "read", ([templateId]) => templateId),
  getTemplateBuildById: via("build", "template", "read", ([id]) => id),
  claimTemplateBuild: systemOnly("agent"),
  updateTemplateBuild: systemOnly("agent"),
  readTemplateBuildLog: via("build", "template", "read", ([r]) => r.id),
  requeueTemplateBuild: via("build", "template", "write", ([r]) => r.id),

  // prebuilds (the org's id is on the row: every query filters by it)
  insertPrebuild: inOrg("template", "write", "org_not_found", ([p]) => p.orgId),
  getPrebuild: inOrg("template", "read", "template_not_found", ([orgId]) => orgId),
  listPrebuilds: inOrg("template", "read", "template_not_found", ([orgId]) => orgId),
  latestReadyPrebuild: inOrg("template", "read", "template_not_found", ([orgId]) => orgId, ["pool-manager"]),
  readPrebuildLog: inOrg("template", "read", "template_not_found", ([orgId]) => orgId),
  getPrebuildForNode: systemOnly("agent"),
  claimPrebuild: systemOnly("agent"),
  updatePrebuild: systemOnly("agent"),

  // templates
  addTemplateVersion: inOrg("template", "write", "org_not_found", ([t]) => t.orgId),
  getTemplateVersion: inOrg("template", "read", "template_not_found", ([orgId]) => orgId, [
    "pool-manager",
    "gateway",
  ]),
  listLatestTemplates: inOrg("template", "read", "org_not_found", ([orgId]) => orgId),
  listTemplateVersions: inOrg("template", "read", "template_not_found", ([orgId]) => orgId),

  // API tokens
  insertToken: self(([t]) => t.userId, "user_not_found", ["bootstrap"]),
  getActiveTokenWithUser: systemOnly("authenticator"),
  listTokensByUser: self(([userId]) => userId, "user_not_found"),
  revokeToken: self(([userId]) => userId, "token_not_found"),
  touchToken: systemOnly("authenticator"),

  // the audit log: an org's chain, read by those with audit.read (writes go through internal/audit)
  listAuditEventsByOrg: inOrg("audit", "read", "org_not_found", ([orgId]) => orgId),

  // usage
  orgBoxUsage: inOrg("usage", "read", "org_not_found", ([orgId]) => orgId),

  // users
  insertUser: siteAdmin("creating users", ["bootstrap", "authenticator"]),
  getUserById: self(([id]) => id, "user_not_found", ["authenticator"]),
  getLiveUserByUsername: open(
    "members are added to orgs and teams by username; callers that change anything are checked on that change",
  ),
  countUsers: systemOnly("bootstrap"),
  lockBootstrap: systemOnly("bootstrap"),
  disableUser: siteAdmin("suspending and deleting users"),
  unsuspendUser: siteAdmin("unsuspending users"),

  // secrets: names and scopes for members, values only for delivery into a box
  upsertSecret: {
    needs: "secret.*",
    systems: [],
    user: ([s]): Check =>
      s.scope === "user"
        ? {
            kind: "org",
            orgId: s.orgId,
            resource: "secret",
            action: "writeOwn",
            ownerId: s.userId ?? null,
            notFound: "org_not_found",
          }
        : { kind: "org", orgId: s.orgId, resource: "secret", action: "write", notFound: "org_not_found" },
  },
  getSecretMeta: inOrg("secret", "read", "org_not_found", ([s]) => s.orgId),
  listSecrets: inOrg("secret", "read", "org_not_found", ([orgId]) => orgId),
  deleteSecret: {
    needs: "secret.*",
    systems: [],
    user: async ([id], look): Promise<Check> => {
      const s = await look.secret(id);
      if (!s) return { kind: "absent", what: "secret" };
      return s.scope === "user"
        ? {
            kind: "org",
            orgId: s.org_id,
            resource: "secret",
            action: "writeOwn",
            ownerId: s.user_id,
            notFound: "org_not_found",
          }
        : { kind: "org", orgId: s.org_id, resource: "secret", action: "write", notFound: "org_not_found" };
    },
  },
  resolveSecretsForBox: systemOnly("agent", "reconciler"),
} satisfies Policies;
