import type { Queryable } from "../pool.ts";

/** The live (not deleted, not suspended) user an SSH key belongs to. */
export async function getSshKeyOwnerByFingerprint(
  db: Queryable,
  fingerprint: string,
): Promise<{ id: string; user_id: string; username: string } | null> {
  const { rows } = await db.query<{ id: string; user_id: string; username: string }>(
    `SELECT k.id, k.user_id, u.username
       FROM ssh_keys k JOIN users u ON u.id = k.user_id
      WHERE k.fingerprint = $1 AND u.deleted_at IS NULL AND u.suspended_at IS NULL`,
    [fingerprint],
  );
  return rows[0] ?? null;
}

export interface ConnectCandidateRow {
  id: string;
  org_id: string;
  name: string;
  org: string;
  node_id: string | null;
  actual_state: string;
  desired_state: string;
  owner_id: string;
  /** The user's role in the box's org (the join keeps only orgs they belong to). */
  role: string;
  last_error: string | null;
}

/**
 * Live, user-visible boxes of that name in the orgs a live user belongs to
 * (in one org when `org` is given), with the user's role there: what the
 * gateway chooses a session's box from.
 */
export async function listConnectCandidates(
  db: Queryable,
  userId: string,
  target: { box: string; org?: string },
): Promise<ConnectCandidateRow[]> {
  const { rows } = await db.query<ConnectCandidateRow>(
    `SELECT b.id, b.org_id, b.name, o.name AS org, b.node_id, b.actual_state, b.desired_state, b.owner_id, m.role,
            b.last_error->>'message' AS last_error
       FROM boxes b
       JOIN orgs o ON o.id = b.org_id
       JOIN org_members m ON m.org_id = b.org_id AND m.user_id = $1
       JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL AND u.suspended_at IS NULL
      WHERE b.name = $2 AND b.deleted_at IS NULL AND b.pool_id IS NULL AND ($3::text IS NULL OR o.name = $3)`,
    [userId, target.box, target.org ?? null],
  );
  return rows;
}
