import type { Queryable } from "../pool.ts";

export interface UserRow {
  id: string;
  username: string;
  email: string | null;
  site_admin: boolean;
  created_at: Date;
  suspended_at: Date | null;
  deleted_at: Date | null;
}

export async function insertUser(
  db: Queryable,
  u: { id: string; username: string; email?: string | null; siteAdmin?: boolean },
): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (id, username, email, site_admin) VALUES ($1, $2, $3, $4) RETURNING *`,
    [u.id, u.username, u.email ?? null, u.siteAdmin ?? false],
  );
  return rows[0]!;
}

export async function getUserById(db: Queryable, id: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT * FROM users WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function getLiveUserByUsername(db: Queryable, username: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT * FROM users WHERE username = $1 AND deleted_at IS NULL`, [
    username,
  ]);
  return rows[0] ?? null;
}

export async function countUsers(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users`);
  return rows[0]?.n ?? 0;
}

/**
 * Cuts a user off everywhere at once: every API token and browser session is
 * revoked (the gateway drops their open SSH and terminal sessions on its next
 * check). `suspend` can be undone; `delete` also frees the username and the
 * user's SSH keys, and keeps the row for the audit log.
 */
export async function disableUser(
  db: Queryable,
  userId: string,
  how: "suspend" | "delete",
): Promise<{ tokens: number; sessions: number; sshKeys: number }> {
  await db.query(
    how === "suspend"
      ? `UPDATE users SET suspended_at = COALESCE(suspended_at, now()) WHERE id = $1`
      : `UPDATE users SET deleted_at = now() WHERE id = $1`,
    [userId],
  );
  const tokens = await db.query(
    `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`,
    [userId],
  );
  const sessions = await db.query(
    `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`,
    [userId],
  );
  const keys =
    how === "delete" ? await db.query(`DELETE FROM ssh_keys WHERE user_id = $1`, [userId]) : { rowCount: 0 };
  return { tokens: tokens.rowCount ?? 0, sessions: sessions.rowCount ?? 0, sshKeys: keys.rowCount ?? 0 };
}

export async function unsuspendUser(db: Queryable, userId: string): Promise<void> {
  await db.query(`UPDATE users SET suspended_at = NULL WHERE id = $1`, [userId]);
}

const BOOTSTRAP_LOCK_KEY = 0x61646d6e; // "admn"

/** Serialises first starts until the transaction ends, so only one creates the first admin. */
export async function lockBootstrap(db: Queryable): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock($1)", [BOOTSTRAP_LOCK_KEY]);
}
