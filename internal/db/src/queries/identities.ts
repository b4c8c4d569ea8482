import type { Queryable } from "../pool.ts";
import type { UserRow } from "./users.ts";

export async function getUserByIdentity(
  db: Queryable,
  issuer: string,
  subject: string,
): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(
    `SELECT u.* FROM user_identities i JOIN users u ON u.id = i.user_id
      WHERE i.issuer = $1 AND i.subject = $2 AND u.deleted_at IS NULL`,
    [issuer, subject],
  );
  return rows[0] ?? null;
}

/** A live user with this email who has no external identity yet (an admin's invitation). */
export async function getUnlinkedUserByEmail(db: Queryable, email: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(
    `SELECT u.* FROM users u
      WHERE lower(u.email) = lower($1) AND u.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM user_identities i WHERE i.user_id = u.id)
      ORDER BY u.created_at LIMIT 2`,
    [email],
  );
  // Two candidates is ambiguous: link neither.
  return rows.length === 1 ? rows[0]! : null;
}

export async function insertIdentity(
  db: Queryable,
  i: { issuer: string; subject: string; userId: string; email: string | null },
): Promise<void> {
  await db.query(
    `INSERT INTO user_identities (issuer, subject, user_id, email, last_login_at) VALUES ($1, $2, $3, $4, now())`,
    [i.issuer, i.subject, i.userId, i.email],
  );
}

export async function touchIdentity(db: Queryable, issuer: string, subject: string): Promise<void> {
  await db.query(`UPDATE user_identities SET last_login_at = now() WHERE issuer = $1 AND subject = $2`, [
    issuer,
    subject,
  ]);
}
