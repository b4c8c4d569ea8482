import type { Queryable } from "@boxyard/db";
import { type AuthorizedStore, authorizedStore, type OrgRole, roleAllows } from "@boxyard/authz";

export interface GatewayUser {
  userId: string;
  username: string;
  keyId: string;
}

/** Where a box lives and whether it can take a session now. */
export interface BoxRoute {
  boxId: string;
  orgId: string;
  boxName: string;
  orgName: string;
  nodeId: string | null;
  actualState: string;
  desiredState: string;
  /** Why the box last failed, when it did. */
  lastError?: string | null;
}

/** What the gateway needs from the control plane; cached so an outage does not stop logins. */
export interface GatewayDirectory {
  userForKey(fingerprint: string): Promise<GatewayUser | null>;
  /** The box the user may connect to, or null (unknown, other tenant, or not allowed: all look alike). */
  boxForUser(userId: string, target: { box: string; org?: string }): Promise<BoxRoute | null>;
}

/** Reads from PostgreSQL as the gateway system actor, through the authorized store. */
export class DbGatewayDirectory implements GatewayDirectory {
  private readonly store: AuthorizedStore;

  constructor(db: Queryable) {
    this.store = authorizedStore(db, { kind: "system", name: "gateway" });
  }

  async userForKey(fingerprint: string): Promise<GatewayUser | null> {
    const r = await this.store.getSshKeyOwnerByFingerprint(fingerprint);
    return r ? { userId: r.user_id, username: r.username, keyId: r.id } : null;
  }

  async boxForUser(userId: string, target: { box: string; org?: string }): Promise<BoxRoute | null> {
    const rows = await this.store.listConnectCandidates(userId, target);
    const allowed = rows.filter(
      (r) =>
        roleAllows(r.role as OrgRole, "box", "connect") &&
        (r.owner_id === userId || r.role === "owner" || r.role === "admin"),
    );
    // Without an org the name must be unambiguous among the user's orgs.
    if (allowed.length !== 1) return null;
    const r = allowed[0]!;
    return {
      boxId: r.id,
      orgId: r.org_id,
      boxName: r.name,
      orgName: r.org,
      nodeId: r.node_id,
      actualState: r.actual_state,
      desiredState: r.desired_state,
      lastError: r.last_error,
    };
  }
}
