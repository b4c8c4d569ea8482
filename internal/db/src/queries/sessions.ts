import type { Queryable } from "../pool.ts";
import type { UserRow } from "./users.ts";

export interface SessionRow {
  id: string;
  user_id: string;
  secret_hash: Buffer;
  csrf_token: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

export async function insertSession(
  db: Queryable,
  s: { id: string; userId: string; secretHash: Buffer; csrfToken: string; expiresAt: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO sessions (id, user_id, secret_hash, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)`,
    [s.id, s.userId, s.secretHash, s.csrfToken, s.expiresAt],
  );
}

/** A live session and its (live, unsuspended) user. */
export async function getActiveSessionWithUser(
  db: Queryable,
  id: string,
): Promise<{ session: SessionRow; user: UserRow } | null> {
  const { rows } = await db.query<SessionRow & { u: UserRow }>(
    `SELECT s.*, row_to_json(u.*) AS u FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
        AND u.deleted_at IS NULL AND u.suspended_at IS NULL`,
    [id],
  );
  const row = rows[0];
  if (!row) return null;
  const { u, ...session } = row;
  return {
    session,
    user: {
      ...u,
      created_at: new Date(u.created_at),
      suspended_at: u.suspended_at && new Date(u.suspended_at),
      deleted_at: u.deleted_at && new Date(u.deleted_at),
    },
  };
}

export async function revokeSession(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
}
