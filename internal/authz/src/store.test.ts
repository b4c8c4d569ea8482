// B2 (test-catalogue.md): authorization by construction. Every query
// function of @boxyard/db, found by reflection over internal/db's queries
// folder, must have a policy, and every policy is exercised four ways:
// (i) success with a recording authorizer whose every check the test asserts,
// (ii) an always-deny authorizer: NotAuthorized and no statement of the
// query's own runs, (iii) no actor: NoActorError and no SQL, (iv) a cancelled
// signal: rejected before any SQL. A named system actor outside a method's
// list is refused by the production authorizer.

import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Actor, SYSTEM_ACTORS, type SystemActorName } from "@boxyard/auth";
import * as db from "@boxyard/db";
import type { Queryable, UserRow } from "@boxyard/db";
import { describe, expect, it } from "vitest";
import { type Authorizer, type Check, checkLabel, rbacAuthorizer } from "./checks.ts";
import { NoActorError, NotAuthorized } from "./errors.ts";
import { policies } from "./policies.ts";
import type { Policy, QueryArgs, QueryName } from "./policy.ts";
import { authorizedStore, STORE_METHODS } from "./store.ts";

const QUERIES_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../db/src/queries");

/** Every exported function of every file in internal/db/src/queries: the store's whole surface. */
async function reflectQueryFunctions(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const file of readdirSync(QUERIES_DIR).sort()) {
    if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
    const mod = (await import(join(QUERIES_DIR, file))) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      // A query takes the Queryable first; constants and types are not queries.
      if (typeof value === "function" && value.length >= 1) found.set(name, file);
    }
  }
  return found;
}

/** A Queryable that records statements and answers every one with one row that has every column a look-up reads. */
function recordingDb(): { q: Queryable; sql: string[] } {
  const sql: string[] = [];
  const row = {
    id: "obj-1",
    org_id: "org-a",
    owner_id: "user-1",
    user_id: "user-1",
    scope: "org",
    role: "owner",
    org: true,
    x: 1,
    n: 0,
  };
  const q = {
    query: async (text: string) => {
      sql.push(text);
      return { rows: [{ ...row }], rowCount: 1 };
    },
  } as unknown as Queryable;
  return { q, sql };
}

const own = (sql: string[]) => sql.filter((s) => !s.startsWith("/* authz */"));

const user: UserRow = {
  id: "user-1",
  username: "alice",
  email: null,
  site_admin: false,
  created_at: new Date(0),
  suspended_at: null,
  deleted_at: null,
} as unknown as UserRow;
const userActor: Actor = { kind: "user", user };

/** Records every check and lets it pass; the test must assert each (coder's AllAsserted). */
class RecordingAuthorizer implements Authorizer {
  readonly calls: Array<{ actor: Actor; check: Check; asserted: boolean }> = [];
  async authorize(actor: Actor, check: Check): Promise<void> {
    this.calls.push({ actor, check, asserted: false });
  }
  assert(pred: (c: Check) => boolean, what: string): void {
    const call = this.calls.find((c) => !c.asserted && pred(c.check));
    expect(
      call,
      `expected a check ${what}; got ${JSON.stringify(this.calls.map((c) => c.check))}`,
    ).toBeDefined();
    call!.asserted = true;
  }
  allAsserted(method: string): void {
    const left = this.calls.filter((c) => !c.asserted).map((c) => checkLabel(c.check));
    expect(left, `${method}: checks made but not asserted`).toEqual([]);
  }
}

const denyAll: Authorizer = {
  async authorize(_actor, check) {
    throw new NotAuthorized("forbidden", `denied ${checkLabel(check)}`);
  },
};

/** Arguments for one call of each query; shapes only (the recording Queryable answers every statement). */
const samples: { [K in QueryName]: QueryArgs<K> } = {
  insertBoxEvent: [{ boxId: "box-1", orgId: "org-a", generation: 1, from: null, to: "pending", reason: "r" }],
  listBoxEventsAfter: ["box-1", 0],
  lastBoxEventId: ["box-1"],
  listBoxHistory: [{ boxId: "box-1", orgId: "org-a", limit: 10 }],
  notifyBoxChanged: ["box-1"],
  listBoxPorts: ["box-1"],
  getBoxPort: ["box-1", 8080],
  upsertBoxPort: [{ boxId: "box-1", port: 8080, visibility: "org", label: "" }],
  deleteBoxPort: ["box-1", 8080],
  findSharedPort: ["org", "box", 8080],
  claimDueBoxes: [{ holder: "h", leaseMs: 1000, limit: 1 }],
  renewBoxLease: [{ id: "box-1", holder: "h", leaseMs: 1000 }],
  releaseBoxLease: [{ id: "box-1", holder: "h", seenVersion: 1, requeueAfterMs: null }],
  recordBoxAttemptFailure: [
    { id: "box-1", holder: "h", attempts: 1, retryAfterMs: 10 } as QueryArgs<"recordBoxAttemptFailure">[0],
  ],
  enqueueAllBoxes: [],
  getBoxQueueStats: [],
  countBoxesByActualState: [],
  insertBox: [
    {
      id: "box-1",
      orgId: "org-a",
      name: "b",
      ownerId: "user-1",
      template: "t",
      templateVersion: 1,
      image: {},
      resources: {},
      persistent: false,
    },
  ],
  getBoxById: ["box-1"],
  getBoxByIdForUpdate: ["box-1"],
  getBoxViewById: ["box-1"],
  getLiveBoxByName: ["org-a", "b"],
  listBoxesByOrg: ["org-a", { limit: 10 }],
  setBoxDesiredState: [{ id: "box-1", version: 1, desiredState: "stopped" }],
  updateBoxFenced: ["box-1", 1, {}],
  applyAgentReport: [
    {
      boxId: "box-1",
      nodeId: "n",
      generation: 1,
      seq: 1,
      phase: "running",
      reason: null,
      error: null,
      address: null,
    },
  ],
  recordOomKills: [{ boxId: "box-1", nodeId: "n", kills: [] }],
  upsertGateway: [{ id: "gw" } as QueryArgs<"upsertGateway">[0]],
  getGatewayById: ["gw"],
  touchGateway: ["gw"],
  currentGateway: [60_000],
  getSshKeyOwnerByFingerprint: ["SHA256:x"],
  listConnectCandidates: ["user-1", { box: "b" }],
  claimIdempotencyKey: [{ userId: "user-1", key: "k", method: "POST", path: "/", requestHash: "h" }],
  getIdempotencyKey: ["user-1", "k"],
  completeIdempotencyKey: [{ userId: "user-1", key: "k", status: 200, body: {} }],
  releaseIdempotencyKey: [{ userId: "user-1", key: "k" }],
  getUserByIdentity: ["iss", "sub"],
  getUnlinkedUserByEmail: ["a@example.com"],
  insertIdentity: [{ issuer: "iss", subject: "sub", userId: "user-1", email: null }],
  touchIdentity: ["iss", "sub"],
  insertNodeCommand: [{ id: "c", nodeId: "n", kind: "exec", request: {}, ttlMs: 1000 }],
  claimNodeCommands: ["n"],
  completeNodeCommand: [{ id: "c", nodeId: "n" }],
  getNodeCommand: ["c"],
  deleteNodeCommand: ["c"],
  deleteExpiredNodeCommands: [],
  upsertNode: [
    { id: "n", name: "n", runtime: "fake", capacity: {}, labels: {}, cachedImages: [], agentVersion: "1" },
  ],
  recordNodeHeartbeat: [{ id: "n", usage: {}, health: { ok: true } }],
  getNodeById: ["n"],
  getNodeByName: ["n"],
  listNodesWithAllocation: [],
  bumpNodeDesiredVersion: ["n"],
  getNodeDesiredSet: ["n"],
  getNodeDesiredVersion: ["n"],
  lockScheduler: [],
  setNodeTokenHash: ["n", Buffer.from("h")],
  setBoxPauseMode: ["box-1", "cold"],
  insertOciImage: [{ orgId: "org-a" } as QueryArgs<"insertOciImage">[0]],
  getOciImage: ["org-a", "sha256:x"],
  ociImageAllowsSetuid: ["sha256:x"],
  listOciImages: ["org-a"],
  insertOperation: [{ id: "op", boxId: "box-1", orgId: "org-a", kind: "start", targetGeneration: 1 }],
  getOperationById: ["op"],
  completeOperations: [{ boxId: "box-1", generation: 1, status: "succeeded" }],
  insertOrg: [{ id: "org-a", name: "a" }],
  listOrgsForUser: ["user-1", { all: false }],
  getOrgWithRole: ["org-a", "user-1"],
  upsertOrgMember: [{ orgId: "org-a", userId: "user-2", role: "member" }],
  deleteOrgMember: ["org-a", "user-2"],
  countOrgOwners: ["org-a"],
  listOrgMembersByOrg: ["org-a"],
  upsertPool: [{ id: "p", orgId: "org-a", template: "t", size: 1 }],
  notifyPoolChanged: ["p"],
  listPoolStatus: ["org-a"],
  getPoolStatus: ["org-a", "t"],
  listActivePools: [],
  getPoolById: ["p"],
  tryLockPool: ["p"],
  listPooledBoxes: ["p"],
  recordPoolDecision: [{ id: "p", target: 1, templateVersion: null, lastError: null }],
  claimPooledBox: [{ orgId: "org-a" } as QueryArgs<"claimPooledBox">[0]],
  hasClaimablePooledBox: [{ orgId: "org-a" } as QueryArgs<"hasClaimablePooledBox">[0]],
  listPooledHolds: [],
  evictPooledBox: [{ id: "box-1", version: 1 }],
  listBoxesWaitingForRoom: [],
  wakeBoxesWaitingForRoom: [],
  getOrgQuota: ["org-a"],
  getTeamQuota: ["team-1"],
  setOrgQuota: ["org-a", db.NO_LIMITS],
  setTeamQuota: ["team-1", db.NO_LIMITS],
  getOrgUsage: ["org-a"],
  getTeamUsage: ["team-1"],
  lockOrgForAdmission: ["org-a"],
  lockTeamForAdmission: ["team-1"],
  insertSession: [
    { id: "s", userId: "user-1", secretHash: Buffer.from("h"), csrfToken: "c", expiresAt: new Date() },
  ],
  getActiveSessionWithUser: ["s"],
  revokeSession: ["s"],
  insertSshKey: [
    { id: "k", userId: "user-1", name: "k", type: "ssh-ed25519", publicKey: "p", fingerprint: "f" },
  ],
  listSshKeysByUser: ["user-1"],
  deleteSshKey: ["user-1", "k"],
  insertTeam: [{ id: "team-1", orgId: "org-a", name: "t" }],
  getTeamByName: ["org-a", "t"],
  listTeams: ["org-a"],
  listTeamMembers: ["team-1"],
  addTeamMember: ["team-1", "user-2"],
  removeTeamMember: ["team-1", "user-2"],
  isTeamMember: ["team-1", "user-1"],
  insertTemplateBuild: [{ id: "b", templateId: "tpl", version: 1, image: {} }],
  getTemplateBuild: ["tpl", 1],
  getTemplateBuildById: ["b"],
  claimTemplateBuild: [{ nodeId: "n", leaseMs: 1000 }],
  updateTemplateBuild: [{ id: "b", nodeId: "n", leaseMs: 1000 }],
  readTemplateBuildLog: [{ id: "b", offset: 0 }],
  requeueTemplateBuild: [{ id: "b", note: "n" }],
  insertPrebuild: [
    {
      id: "p",
      orgId: "org-a",
      templateId: "tpl",
      version: 1,
      ref: null,
      job: {},
      trigger: "request",
      requestedBy: "user-1",
    },
  ],
  getPrebuild: ["org-a", "p"],
  listPrebuilds: ["org-a", "tpl"],
  latestReadyPrebuild: ["org-a", { templateId: "tpl", version: 1, ref: null }],
  readPrebuildLog: ["org-a", { id: "p", offset: 0 }],
  getPrebuildForNode: ["p"],
  claimPrebuild: [{ nodeId: "n", leaseMs: 1000 }],
  updatePrebuild: [{ id: "p", nodeId: "n", leaseMs: 1000 }],
  addTemplateVersion: [{ id: "tpl", orgId: "org-a", name: "t", spec: {}, userId: "user-1" }],
  getTemplateVersion: ["org-a", "t"],
  listLatestTemplates: ["org-a"],
  listTemplateVersions: ["org-a", "t"],
  insertToken: [
    { id: "tok", userId: "user-1", name: "t", secretHash: Buffer.from("h"), expiresAt: new Date() },
  ],
  getActiveTokenWithUser: ["tok"],
  listTokensByUser: ["user-1"],
  revokeToken: ["user-1", "tok"],
  touchToken: ["tok"],
  listAuditEventsByOrg: ["org-a", { limit: 10 }],
  orgBoxUsage: ["org-a", new Date(0), new Date()],
  insertUser: [{ id: "user-2", username: "bob" }],
  getUserById: ["user-1"],
  getLiveUserByUsername: ["bob"],
  countUsers: [],
  lockBootstrap: [],
  disableUser: ["user-2", "suspend"],
  unsuspendUser: ["user-2"],
  upsertSecret: [
    {
      orgId: "org-a",
      name: "S",
      scope: "user",
      userId: "user-1",
      newId: "sec",
      seal: () => ({ ciphertext: Buffer.from("c"), wrappedKey: Buffer.from("k"), keyId: "k" }),
      createdBy: "user-1",
    },
  ],
  getSecretMeta: [{ orgId: "org-a", name: "S", scope: "org" }],
  listSecrets: ["org-a", { userId: "user-1", allUsers: false }],
  deleteSecret: ["sec"],
  resolveSecretsForBox: [{ orgId: "org-a", ownerId: "user-1", teamId: null }, ["S"]],
};

type Call = (...args: unknown[]) => Promise<unknown>;
const call = (store: object, name: string): Call => (store as Record<string, Call>)[name]!.bind(store);
const sample = (name: QueryName) => (samples as Record<string, unknown[]>)[name]!;
const policy = (name: QueryName) => policies[name] as Policy<unknown[]>;

/** Runs one call; errors of the query itself (the fake rows fit no real shape) are no concern of authorization. */
async function settle(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof NotAuthorized || err instanceof NoActorError) throw err;
    return err;
  }
}

/** The actor a success case runs as: a user where users may call the method, else its first system actor. */
function successActor(name: QueryName): Actor {
  const p = policy(name);
  if (p.user || p.open) return userActor;
  return { kind: "system", name: p.systems[0]! };
}

function labelMatches(label: string, needs: string): boolean {
  if (needs.endsWith(".*")) return label.startsWith(needs.slice(0, -1));
  return label === needs;
}

describe("B2: authorization by construction", () => {
  it("B2: every query function of @boxyard/db has a policy, and every policy a query", async () => {
    const reflected = await reflectQueryFunctions();
    expect(reflected.size).toBeGreaterThan(100);
    const missing = [...reflected].filter(([n]) => !(n in policies)).map(([n, f]) => `${f}: ${n}`);
    expect(missing, "query functions without a policy in internal/authz/src/policies.ts").toEqual([]);
    const stale = STORE_METHODS.filter((n) => !reflected.has(n));
    expect(stale, "policies for functions that no longer exist").toEqual([]);
    const unexported = [...reflected.keys()].filter(
      (n) => typeof (db as Record<string, unknown>)[n] !== "function",
    );
    expect(unexported, "query functions not exported from @boxyard/db (the store cannot wrap them)").toEqual(
      [],
    );
    for (const p of Object.values(policies) as Policy<unknown[]>[]) {
      expect(p.user !== undefined || p.open !== undefined || p.systems.length > 0).toBe(true);
    }
  });

  for (const name of STORE_METHODS) {
    describe(`B2 ${name}`, () => {
      it("(i) succeeds with a recording authorizer; every check asserted", async () => {
        const p = policy(name);
        const actors: Actor[] = [successActor(name)];
        // Each named system actor the method grants gets its own success case.
        for (const s of p.systems) actors.push({ kind: "system", name: s });
        for (const actor of actors) {
          const { q, sql } = recordingDb();
          const rec = new RecordingAuthorizer();
          await settle(call(authorizedStore(q, actor, { authorizer: rec }), name)(...sample(name)));
          if (p.open !== undefined) rec.assert((c) => c.kind === "open", "open");
          else if (actor.kind === "system")
            rec.assert((c) => c.kind === "system" && c.allowed.includes(actor.name), `system ${actor.name}`);
          else rec.assert((c) => labelMatches(checkLabel(c), p.needs), p.needs);
          rec.allAsserted(name);
          expect(own(sql).length, `${name} ran its query`).toBeGreaterThan(0);
        }
      });

      it("(ii) an always-deny authorizer: NotAuthorized, none of the query's own SQL", async () => {
        const { q, sql } = recordingDb();
        await expect(
          call(authorizedStore(q, successActor(name), { authorizer: denyAll }), name)(...sample(name)),
        ).rejects.toBeInstanceOf(NotAuthorized);
        expect(own(sql)).toEqual([]);
      });

      it("(iii) no actor: NoActorError, no SQL", async () => {
        const { q, sql } = recordingDb();
        await expect(
          call(authorizedStore(q, null, { authorizer: rbacAuthorizer() }), name)(...sample(name)),
        ).rejects.toBeInstanceOf(NoActorError);
        expect(sql).toEqual([]);
      });

      it("(iv) a cancelled signal: rejected before any SQL", async () => {
        const { q, sql } = recordingDb();
        const ac = new AbortController();
        ac.abort(new Error("request cancelled"));
        const store = authorizedStore(q, successActor(name), {
          authorizer: new RecordingAuthorizer(),
          signal: ac.signal,
        });
        await expect(call(store, name)(...sample(name))).rejects.toThrow("request cancelled");
        expect(sql).toEqual([]);
      });

      it("system actors it does not name are refused, and users where it is system-only", async () => {
        const p = policy(name);
        if (p.open !== undefined) return;
        if (!p.user) {
          const { q, sql } = recordingDb();
          await expect(call(authorizedStore(q, userActor), name)(...sample(name))).rejects.toBeInstanceOf(
            NotAuthorized,
          );
          expect(own(sql)).toEqual([]);
        }
        const outsiders = SYSTEM_ACTORS.filter((s: SystemActorName) => !p.systems.includes(s));
        for (const s of outsiders) {
          const { q, sql } = recordingDb();
          const store = authorizedStore(q, { kind: "system", name: s });
          await expect(call(store, name)(...sample(name)), `${s} calling ${name}`).rejects.toBeInstanceOf(
            NotAuthorized,
          );
          expect(own(sql)).toEqual([]);
        }
      });
    });
  }
});

describe("box look-ups", () => {
  const boxLookups = (sql: string[]) => sql.filter((s) => s.includes("SELECT org_id, owner_id FROM boxes"));

  it("an owned box is looked up once per store, its transactions' stores included", async () => {
    const { q, sql } = recordingDb();
    const store = authorizedStore(q, userActor, { authorizer: new RecordingAuthorizer() });
    await store.getBoxById("box-1");
    await store.on(q).getBoxByIdForUpdate("box-1");
    await store.on(q).insertOperation(sample("insertOperation")[0] as never);
    expect(boxLookups(sql)).toHaveLength(1);
    // Another box, and another store (another request), look again.
    await store.getBoxById("box-2");
    await authorizedStore(q, userActor, { authorizer: new RecordingAuthorizer() }).getBoxById("box-1");
    expect(boxLookups(sql)).toHaveLength(3);
  });

  it("a box without an owner (in a warm pool, claimable) is looked up at every call", async () => {
    const sql: string[] = [];
    const q = {
      query: async (text: string) => {
        sql.push(text);
        return {
          rows: [{ id: "box-1", org_id: "org-a", owner_id: null, role: "owner", org: true }],
          rowCount: 1,
        };
      },
    } as unknown as Queryable;
    const store = authorizedStore(q, userActor, { authorizer: new RecordingAuthorizer() });
    await store.getBoxById("box-1");
    await store.getBoxById("box-1");
    expect(boxLookups(sql)).toHaveLength(2);
  });
});
