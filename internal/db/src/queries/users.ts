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
