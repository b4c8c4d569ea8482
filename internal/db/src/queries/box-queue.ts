import type { Queryable } from "../pool.ts";

// The reconcile work queue lives on the box rows: a box is due when
// next_attempt_at has passed, and a worker leases it (holder + expiry) so
// that no two workers, in this process or another, act on one box at once.

/** Leases up to `limit` due boxes for `holder`; SKIP LOCKED lets concurrent claimers pass each other. */
export async function claimDueBoxes(
  db: Queryable,
  c: { holder: string; leaseMs: number; limit: number },
): Promise<Array<{ id: string; lease_expires_at: Date }>> {
  const { rows } = await db.query<{ id: string; lease_expires_at: Date }>(
    `UPDATE boxes SET lease_holder = $1, lease_expires_at = now() + make_interval(secs => $2::float8 / 1000)
      WHERE id IN (
        SELECT id FROM boxes
         WHERE next_attempt_at <= now() AND deleted_at IS NULL
           AND (lease_expires_at IS NULL OR lease_expires_at < now())
         ORDER BY next_attempt_at
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
      RETURNING id, lease_expires_at`,
    [c.holder, c.leaseMs, c.limit],
  );
  return rows;
}

/** Extends a lease still held by `holder` while its work runs longer than expected. */
export async function renewBoxLease(
  db: Queryable,
  r: { id: string; holder: string; leaseMs: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE boxes SET lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
      WHERE id = $1 AND lease_holder = $2`,
    [r.id, r.holder, r.leaseMs],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Ends a lease. The next attempt is in `requeueAfterMs` (null: only when
 * something changes), unless the row changed since `seenVersion` (a report
 * or a desired change arrived meanwhile): then it is due again at once.
 */
export async function releaseBoxLease(
  db: Queryable,
  r: { id: string; holder: string; seenVersion: number; requeueAfterMs: number | null },
): Promise<void> {
  await db.query(
    `UPDATE boxes SET lease_holder = NULL, lease_expires_at = NULL,
            next_attempt_at = CASE
              WHEN version <> $3 THEN now()
              WHEN $4::float8 IS NULL THEN NULL
              ELSE now() + make_interval(secs => $4::float8 / 1000) END
      WHERE id = $1 AND lease_holder = $2`,
    [r.id, r.holder, r.seenVersion, r.requeueAfterMs],
  );
}

/** Records a failed attempt and when to try again; ends the lease. */
export async function recordBoxAttemptFailure(
  db: Queryable,
  r: {
    id: string;
    holder: string;
    attempts: number;
    retryAfterMs: number;
    lastError: { code: string; message: string; at: string; attempts: number; permanent: boolean };
  },
): Promise<void> {
  await db.query(
    `UPDATE boxes SET lease_holder = NULL, lease_expires_at = NULL, attempts = $3, last_error = $4::jsonb,
            next_attempt_at = now() + make_interval(secs => $5::float8 / 1000), version = version + 1
      WHERE id = $1 AND lease_holder = $2`,
    [r.id, r.holder, r.attempts, JSON.stringify(r.lastError), r.retryAfterMs],
  );
}

/** Periodic resync: every live box that is not already queued becomes due. */
export async function enqueueAllBoxes(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE boxes SET next_attempt_at = now() WHERE deleted_at IS NULL AND next_attempt_at IS NULL`,
  );
  return rowCount ?? 0;
}

export async function getBoxQueueStats(db: Queryable): Promise<{ depth: number; lagSeconds: number }> {
  const { rows } = await db.query<{ depth: number; lag: number | null }>(
    `SELECT count(*)::int AS depth, EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8 AS lag
       FROM boxes WHERE deleted_at IS NULL AND next_attempt_at <= now()`,
  );
  return { depth: rows[0]?.depth ?? 0, lagSeconds: Math.max(0, rows[0]?.lag ?? 0) };
}

export async function countBoxesByActualState(db: Queryable): Promise<Array<{ state: string; n: number }>> {
  const { rows } = await db.query<{ state: string; n: number }>(
    `SELECT actual_state AS state, count(*)::int AS n FROM boxes WHERE deleted_at IS NULL GROUP BY actual_state`,
  );
  return rows;
}
