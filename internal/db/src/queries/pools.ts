import type { Queryable } from "../pool.ts";
import type { BoxRow } from "./boxes.ts";

// Warm pools (migration 0013): per org and template, `size` ready boxes with
// no owner. The pool controller (internal/lifecycle/src/pools.ts) keeps them;
// a create claims one in its own transaction (claimPooledBox).

export interface PoolRow {
  id: string;
  org_id: string;
  template: string;
  size: number;
  target: number;
  template_version: number | null;
  last_error: string | null;
  updated_at: Date;
}

/** A pool with how many of its boxes are ready, on their way, or being drained. */
export interface PoolStatusRow extends PoolRow {
  org_name: string;
  ready: number;
  starting: number;
  draining: number;
}

export async function upsertPool(
  db: Queryable,
  p: { id: string; orgId: string; template: string; size: number },
): Promise<PoolRow> {
  const { rows } = await db.query<PoolRow>(
    `INSERT INTO box_pools (id, org_id, template, size) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id, template) DO UPDATE SET size = EXCLUDED.size, updated_at = now()
     RETURNING *`,
    [p.id, p.orgId, p.template, p.size],
  );
  await db.query(`SELECT pg_notify('boxyard_pool_changed', $1)`, [rows[0]!.id]);
  return rows[0]!;
}

/** Wakes the pool controllers (after a claim, a size change). */
export async function notifyPoolChanged(db: Queryable, poolId: string): Promise<void> {
  await db.query(`SELECT pg_notify('boxyard_pool_changed', $1)`, [poolId]);
}

const READY = `b.desired_state = 'running' AND b.actual_state = 'running' AND b.observed_generation >= b.generation`;

const STATUS = `SELECT p.*, o.name AS org_name,
       count(b.id) FILTER (WHERE ${READY})::int AS ready,
       count(b.id) FILTER (WHERE b.desired_state <> 'deleted' AND NOT (${READY}))::int AS starting,
       count(b.id) FILTER (WHERE b.desired_state = 'deleted')::int AS draining
  FROM box_pools p JOIN orgs o ON o.id = p.org_id
  LEFT JOIN boxes b ON b.pool_id = p.id AND b.deleted_at IS NULL`;

export async function listPoolStatus(db: Queryable, orgId?: string): Promise<PoolStatusRow[]> {
  const { rows } = await db.query<PoolStatusRow>(
    `${STATUS} WHERE ($1::text IS NULL OR p.org_id = $1) GROUP BY p.id, o.name ORDER BY o.name, p.template`,
    [orgId ?? null],
  );
  return rows;
}

export async function getPoolStatus(
  db: Queryable,
  orgId: string,
  template: string,
): Promise<PoolStatusRow | null> {
  const { rows } = await db.query<PoolStatusRow>(
    `${STATUS} WHERE p.org_id = $1 AND p.template = $2 GROUP BY p.id, o.name`,
    [orgId, template],
  );
  return rows[0] ?? null;
}

/** Every pool that holds or wants boxes: the controller's work list. */
export async function listActivePools(db: Queryable): Promise<PoolRow[]> {
  const { rows } = await db.query<PoolRow>(
    `SELECT p.* FROM box_pools p
      WHERE p.size > 0 OR p.target > 0
         OR EXISTS (SELECT 1 FROM boxes b WHERE b.pool_id = p.id AND b.deleted_at IS NULL)
      ORDER BY p.id`,
  );
  return rows;
}

/** The pool's live boxes (including ones being drained). */
export async function listPooledBoxes(db: Queryable, poolId: string): Promise<BoxRow[]> {
  const { rows } = await db.query<BoxRow>(
    `SELECT * FROM boxes WHERE pool_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`,
    [poolId],
  );
  return rows;
}

export async function recordPoolDecision(
  db: Queryable,
  p: { id: string; target: number; templateVersion: number | null; lastError: string | null },
): Promise<void> {
  await db.query(
    `UPDATE box_pools SET target = $2, template_version = $3, last_error = $4
      WHERE id = $1 AND (target, template_version, last_error) IS DISTINCT FROM ($2, $3, $4)`,
    [p.id, p.target, p.templateVersion, p.lastError],
  );
}

/**
 * Whether a ready pooled box of exactly this template version, image,
 * resources and network exists now (no lock taken, nothing changed). A
 * create asks this first: an org without such a box skips the claim and the
 * org-wide lock the claim is serialised under, so a burst of creates where
 * no pool matches queues only for its short admission check.
 */
export async function hasClaimablePooledBox(db: Queryable, c: PooledBoxMatch): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM boxes b JOIN box_pools p ON p.id = b.pool_id WHERE ${CLAIMABLE} LIMIT 1`,
    matchParams(c),
  );
  return rows.length > 0;
}

/** What a claimed box must be exactly (CLAIMABLE's $1-$6). */
export interface PooledBoxMatch {
  orgId: string;
  template: string;
  templateVersion: number;
  image: unknown;
  resources: unknown;
  network: unknown;
}

function matchParams(c: PooledBoxMatch): unknown[] {
  return [
    c.orgId,
    c.template,
    c.templateVersion,
    JSON.stringify(c.image),
    JSON.stringify(c.resources),
    JSON.stringify(c.network),
  ];
}

/**
 * Takes a ready pooled box of exactly this template version, image,
 * resources and network, and makes it the caller's, all in the caller's
 * transaction: owner, name, team, a new machine-id. SKIP LOCKED lets
 * concurrent creates pass each other, so no box is handed out twice. If
 * every matching box is locked (a node's report or the reconciler is
 * updating its row, for milliseconds), the claim waits for one up to
 * `waitMs` (default 300) instead of falling back to a fresh, slower box.
 * The pooled history (its events) goes: the box starts its life at the claim.
 */
export async function claimPooledBox(
  db: Queryable,
  c: PooledBoxMatch & {
    ownerId: string;
    name: string;
    teamId: string | null;
    persistent: boolean;
    machineId: string;
    /** How long to wait for a matching box that another transaction holds (ms; 0: never wait). */
    waitMs?: number;
  },
): Promise<BoxRow | null> {
  const params = [...matchParams(c), c.ownerId, c.name, c.teamId, c.persistent, c.machineId];
  const claim = (lock: string) =>
    db.query<BoxRow>(
      `WITH pick AS (
         SELECT b.id FROM boxes b JOIN box_pools p ON p.id = b.pool_id
          WHERE ${CLAIMABLE}
          ORDER BY b.created_at, b.id
          LIMIT 1
          ${lock})
       UPDATE boxes b SET owner_id = $7, name = $8, team_id = $9, persistent = $10, machine_id = $11,
              pool_id = NULL, claimed_at = now(), created_at = now(), state_entered_at = now(),
              version = version + 1, updated_at = now()
         FROM pick WHERE b.id = pick.id
       RETURNING b.*`,
      params,
    );
  let { rows } = await claim("FOR UPDATE OF b SKIP LOCKED");
  if (!rows[0] && (c.waitMs ?? 300) > 0) rows = await claimLockedBox(db, claim, params, c.waitMs ?? 300);
  const box = rows[0];
  if (!box) return null;
  await db.query(`DELETE FROM box_events WHERE box_id = $1`, [box.id]);
  await db.query(`DELETE FROM operations WHERE box_id = $1`, [box.id]);
  return box;
}

/** A ready pooled box matching the claim's template version, image, resources and network ($1-$6). */
const CLAIMABLE = `p.org_id = $1 AND p.template = $2 AND b.deleted_at IS NULL AND ${READY}
  AND b.template_version = $3 AND b.image = $4::jsonb AND b.resources = $5::jsonb AND b.network = $6::jsonb`;

/**
 * The claim's second try when SKIP LOCKED found nothing: if a matching box
 * exists but is locked, wait for it under a lock timeout, in a savepoint so a
 * timeout leaves the caller's transaction usable. A box that no longer
 * matches once its lock is released is passed over (PostgreSQL re-checks the
 * row); none left means a fresh box, as before.
 */
async function claimLockedBox(
  db: Queryable,
  claim: (lock: string) => Promise<{ rows: BoxRow[] }>,
  params: unknown[],
  waitMs: number,
): Promise<BoxRow[]> {
  const { rows: any } = await db.query(
    `SELECT 1 FROM boxes b JOIN box_pools p ON p.id = b.pool_id WHERE ${CLAIMABLE} LIMIT 1`,
    params.slice(0, 6),
  );
  if (any.length === 0) return [];
  await db.query("SAVEPOINT claim_locked_box");
  try {
    const { rows: prev } = await db.query<{ was: string }>(`SELECT current_setting('lock_timeout') AS was`);
    await db.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.ceil(waitMs)}ms`]);
    const { rows } = await claim("FOR UPDATE OF b");
    // The rest of the caller's transaction keeps its own lock timeout.
    await db.query(`SELECT set_config('lock_timeout', $1, true)`, [prev[0]!.was]);
    await db.query("RELEASE SAVEPOINT claim_locked_box");
    return rows;
  } catch (err) {
    // 55P03 lock_not_available: the holder kept it longer than we wait.
    if ((err as { code?: string }).code !== "55P03") throw err;
    await db.query("ROLLBACK TO SAVEPOINT claim_locked_box");
    await db.query("RELEASE SAVEPOINT claim_locked_box");
    return [];
  }
}

/** The pool's row as it is now (the manager re-reads it under its lock). */
export async function getPoolById(db: Queryable, id: string): Promise<PoolRow | null> {
  const { rows } = await db.query<PoolRow>(`SELECT * FROM box_pools WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** Takes the pool's transaction-scoped lock if free: one controller converges a pool at a time. */
export async function tryLockPool(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(
    `SELECT pg_try_advisory_xact_lock(hashtextextended('pool:' || $1, 0)) AS ok`,
    [id],
  );
  return rows[0]?.ok === true;
}

/** A warm-pool box on a node, as the scheduler weighs it against a user's box that fits nowhere. */
export interface PooledHoldRow {
  id: string;
  version: number;
  node_id: string;
  resources: { cpu: number; memoryMiB: number; diskGiB: number; gpus: number };
  ready: boolean;
  /** Already asked to go (drained or evicted): its room frees without another eviction. */
  draining: boolean;
  created_at: Date;
}

/** Every unclaimed pooled box that holds room on a node. */
export async function listPooledHolds(db: Queryable): Promise<PooledHoldRow[]> {
  const { rows } = await db.query<PooledHoldRow>(
    `SELECT b.id, b.version, b.node_id, b.resources, (${READY}) AS ready,
            b.desired_state = 'deleted' AS draining, b.created_at
       FROM boxes b
      WHERE b.pool_id IS NOT NULL AND b.node_id IS NOT NULL AND b.deleted_at IS NULL
      ORDER BY b.node_id, b.created_at, b.id`,
  );
  return rows;
}

/**
 * Evicts a pooled box to make room for a user's box: asked to go, as a
 * drain would. Fenced on its version and on still being pooled, so a box a
 * create has just claimed is never touched.
 */
export async function evictPooledBox(db: Queryable, b: { id: string; version: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE boxes SET desired_state = 'deleted', generation = generation + 1, version = version + 1,
            next_attempt_at = now(), attempts = 0, updated_at = now()
      WHERE id = $1 AND version = $2 AND pool_id IS NOT NULL AND deleted_at IS NULL
        AND desired_state <> 'deleted'`,
    [b.id, b.version],
  );
  return (rowCount ?? 0) > 0;
}

/** Resources of users' boxes (not pooled) waiting for a node with room, oldest first. */
export async function listBoxesWaitingForRoom(
  db: Queryable,
  limit = 100,
): Promise<Array<{ id: string; resources: PooledHoldRow["resources"] }>> {
  const { rows } = await db.query<{ id: string; resources: PooledHoldRow["resources"] }>(
    `SELECT id, resources FROM boxes
      WHERE pool_id IS NULL AND node_id IS NULL AND actual_state = 'scheduling' AND deleted_at IS NULL
        AND desired_state NOT IN ('deleted', 'stopped')
      ORDER BY created_at LIMIT $1`,
    [limit],
  );
  return rows;
}

/** Brings forward the next attempt of every box waiting for room (a node just freed some); never waits on a lock. */
export async function wakeBoxesWaitingForRoom(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    // SKIP LOCKED: a row someone holds is being looked at already, and the caller never waits here.
    `UPDATE boxes SET next_attempt_at = now()
      WHERE id IN (SELECT id FROM boxes
                    WHERE node_id IS NULL AND actual_state = 'scheduling' AND deleted_at IS NULL
                      AND next_attempt_at > now()
                    FOR UPDATE SKIP LOCKED)`,
  );
  return rowCount ?? 0;
}
