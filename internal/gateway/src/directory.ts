import type { Queryable } from "@boxyard/db";
import { type OrgRole, roleAllows } from "@boxyard/authz";

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

/** Reads straight from PostgreSQL. */
export class DbGatewayDirectory implements GatewayDirectory {
  constructor(private readonly db: Queryable) {}

  async userForKey(fingerprint: string): Promise<GatewayUser | null> {
    const { rows } = await this.db.query<{ id: string; user_id: string; username: string }>(
      `SELECT k.id, k.user_id, u.username
         FROM ssh_keys k JOIN users u ON u.id = k.user_id
        WHERE k.fingerprint = $1 AND u.deleted_at IS NULL AND u.suspended_at IS NULL`,
      [fingerprint],
    );
    const r = rows[0];
    return r ? { userId: r.user_id, username: r.username, keyId: r.id } : null;
  }

  async boxForUser(userId: string, target: { box: string; org?: string }): Promise<BoxRoute | null> {
    const { rows } = await this.db.query<{
      id: string;
      org_id: string;
      name: string;
      org: string;
      node_id: string | null;
      actual_state: string;
      desired_state: string;
      owner_id: string;
      role: OrgRole | null;
      last_error: string | null;
    }>(
      `SELECT b.id, b.org_id, b.name, o.name AS org, b.node_id, b.actual_state, b.desired_state, b.owner_id, m.role,
              b.last_error->>'message' AS last_error
         FROM boxes b
         JOIN orgs o ON o.id = b.org_id
         JOIN org_members m ON m.org_id = b.org_id AND m.user_id = $1
         JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL AND u.suspended_at IS NULL
        WHERE b.name = $2 AND b.deleted_at IS NULL AND b.pool_id IS NULL AND ($3::text IS NULL OR o.name = $3)`,
      [userId, target.box, target.org ?? null],
    );
    const allowed = rows.filter(
      (r) =>
        r.role !== null &&
        roleAllows(r.role, "box", "connect") &&
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
