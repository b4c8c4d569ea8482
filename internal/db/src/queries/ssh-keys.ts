import type { Queryable } from "../pool.ts";

export interface SshKeyRow {
  id: string;
  user_id: string;
  name: string;
  type: string;
  public_key: string;
  fingerprint: string;
  created_at: Date;
  last_used_at: Date | null;
}

export async function insertSshKey(
  db: Queryable,
  k: { id: string; userId: string; name: string; type: string; publicKey: string; fingerprint: string },
): Promise<SshKeyRow> {
  const { rows } = await db.query<SshKeyRow>(
    `INSERT INTO ssh_keys (id, user_id, name, type, public_key, fingerprint)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [k.id, k.userId, k.name, k.type, k.publicKey, k.fingerprint],
  );
  return rows[0]!;
}

export async function listSshKeysByUser(db: Queryable, userId: string): Promise<SshKeyRow[]> {
  const { rows } = await db.query<SshKeyRow>(
    `SELECT * FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id`,
    [userId],
  );
  return rows;
}

export async function deleteSshKey(db: Queryable, userId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2`, [keyId, userId]);
  return (rowCount ?? 0) > 0;
}
