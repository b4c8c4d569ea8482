import type { Queryable } from "../pool.ts";
import type { UserRow } from "./users.ts";

export interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  secret_hash: Buffer;
  created_at: Date;
  expires_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export async function insertToken(
  db: Queryable,
  t: { id: string; userId: string; name: string; secretHash: Buffer; expiresAt: Date },
): Promise<TokenRow> {
  const { rows } = await db.query<TokenRow>(
    `INSERT INTO api_tokens (id, user_id, name, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [t.id, t.userId, t.name, t.secretHash, t.expiresAt],
  );
  return rows[0]!;
}

/** The token and its user, for authentication; revoked tokens and gone users are filtered here. */
export async function getActiveTokenWithUser(
  db: Queryable,
  tokenId: string,
): Promise<{ token: TokenRow; user: UserRow } | null> {
  const { rows } = await db.query<TokenRow & { u: UserRow }>(
    `SELECT t.*, row_to_json(u.*) AS u
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.id = $1 AND t.revoked_at IS NULL AND u.deleted_at IS NULL AND u.suspended_at IS NULL`,
    [tokenId],
  );
  const row = rows[0];
  if (!row) return null;
  const { u, ...token } = row;
  return {
    token,
    user: {
      ...u,
      created_at: new Date(u.created_at),
      suspended_at: u.suspended_at && new Date(u.suspended_at),
      deleted_at: u.deleted_at && new Date(u.deleted_at),
    },
  };
}

export async function listTokensByUser(db: Queryable, userId: string): Promise<TokenRow[]> {
  const { rows } = await db.query<TokenRow>(
    `SELECT * FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`,
    [userId],
  );
  return rows;
}

/** Returns false when the token does not exist, is not the user's, or is already revoked. */
export async function revokeToken(db: Queryable, userId: string, tokenId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
    [tokenId, userId],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Records use at most once a minute per token, so authentication does not
 * turn every read into a write.
 */
export async function touchToken(db: Queryable, tokenId: string): Promise<void> {
  await db.query(
    `UPDATE api_tokens SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [tokenId],
  );
}
