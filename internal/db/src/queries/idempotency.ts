import type { Queryable } from "../pool.ts";

export interface IdempotencyRow {
  user_id: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  response_status: number | null;
  response_body: unknown;
  created_at: Date;
}

/** Claims the key for this request; false when someone already holds it. */
export async function claimIdempotencyKey(
  db: Queryable,
  k: { userId: string; key: string; method: string; path: string; requestHash: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO idempotency_keys (user_id, key, method, path, request_hash) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, key) DO NOTHING`,
    [k.userId, k.key, k.method, k.path, k.requestHash],
  );
  return (rowCount ?? 0) > 0;
}

export async function getIdempotencyKey(
  db: Queryable,
  userId: string,
  key: string,
): Promise<IdempotencyRow | null> {
  const { rows } = await db.query<IdempotencyRow>(
    `SELECT * FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
    [userId, key],
  );
  return rows[0] ?? null;
}

export async function completeIdempotencyKey(
  db: Queryable,
  k: { userId: string; key: string; status: number; body: unknown },
): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET response_status = $3, response_body = $4::jsonb WHERE user_id = $1 AND key = $2`,
    [k.userId, k.key, k.status, JSON.stringify(k.body ?? null)],
  );
}

/** Frees a key whose request failed (so a retry runs it again) or was abandoned by a crashed server. */
export async function releaseIdempotencyKey(
  db: Queryable,
  k: { userId: string; key: string; olderThanMs?: number },
): Promise<void> {
  await db.query(
    `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND response_status IS NULL
        AND ($3::float8 IS NULL OR created_at < now() - make_interval(secs => $3::float8 / 1000))`,
    [k.userId, k.key, k.olderThanMs ?? null],
  );
}
