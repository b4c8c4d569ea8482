import type { Queryable } from "../pool.ts";

export interface QuotaLimits {
  maxBoxes: number | null;
  maxRunningBoxes: number | null;
  cpu: number | null;
  memoryMiB: number | null;
  diskGiB: number | null;
  gpus: number | null;
}

export interface QuotaUsage {
  boxes: number;
  runningBoxes: number;
  cpu: number;
  memoryMiB: number;
  diskGiB: number;
  gpus: number;
}

export const NO_LIMITS: QuotaLimits = {
  maxBoxes: null,
  maxRunningBoxes: null,
  cpu: null,
  memoryMiB: null,
  diskGiB: null,
  gpus: null,
};

export async function getOrgQuota(db: Queryable, orgId: string): Promise<QuotaLimits> {
  return readLimits(db, `SELECT * FROM org_quotas WHERE org_id = $1`, orgId);
}

export async function getTeamQuota(db: Queryable, teamId: string): Promise<QuotaLimits> {
  return readLimits(db, `SELECT * FROM team_quotas WHERE team_id = $1`, teamId);
}

async function readLimits(db: Queryable, sql: string, id: string): Promise<QuotaLimits> {
  const { rows } = await db.query<{
    max_boxes: number | null;
    max_running_boxes: number | null;
    cpu: string | null;
    memory_mib: number | null;
    disk_gib: number | null;
    gpus: number | null;
  }>(sql, [id]);
  const r = rows[0];
  if (!r) return NO_LIMITS;
  return {
    maxBoxes: r.max_boxes,
    maxRunningBoxes: r.max_running_boxes,
    cpu: r.cpu === null ? null : Number(r.cpu),
    memoryMiB: r.memory_mib,
    diskGiB: r.disk_gib,
    gpus: r.gpus,
  };
}

export async function setOrgQuota(db: Queryable, orgId: string, q: QuotaLimits): Promise<void> {
  await db.query(
    `INSERT INTO org_quotas (org_id, max_boxes, max_running_boxes, cpu, memory_mib, disk_gib, gpus)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (org_id) DO UPDATE SET max_boxes = EXCLUDED.max_boxes,
       max_running_boxes = EXCLUDED.max_running_boxes, cpu = EXCLUDED.cpu, memory_mib = EXCLUDED.memory_mib,
       disk_gib = EXCLUDED.disk_gib, gpus = EXCLUDED.gpus, updated_at = now()`,
    [orgId, q.maxBoxes, q.maxRunningBoxes, q.cpu, q.memoryMiB, q.diskGiB, q.gpus],
  );
}

export async function setTeamQuota(db: Queryable, teamId: string, q: QuotaLimits): Promise<void> {
  await db.query(
    `INSERT INTO team_quotas (team_id, max_boxes, max_running_boxes, cpu, memory_mib, disk_gib, gpus)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (team_id) DO UPDATE SET max_boxes = EXCLUDED.max_boxes,
       max_running_boxes = EXCLUDED.max_running_boxes, cpu = EXCLUDED.cpu, memory_mib = EXCLUDED.memory_mib,
       disk_gib = EXCLUDED.disk_gib, gpus = EXCLUDED.gpus, updated_at = now()`,
    [teamId, q.maxBoxes, q.maxRunningBoxes, q.cpu, q.memoryMiB, q.diskGiB, q.gpus],
  );
}

/**
 * What an org's live boxes hold. A box holds compute (CPU, memory, GPUs,
 * and counts as running) unless it is wanted stopped or deleted; every live
 * box holds its disk. Boxes waiting in a warm pool hold nothing of the org's:
 * they count once claimed, and a claim is admitted like a create.
 */
export async function getOrgUsage(db: Queryable, orgId: string): Promise<QuotaUsage> {
  return usageWhere(db, "org_id = $1", orgId);
}

/** What a team's live boxes hold (same rules as for an org). */
export async function getTeamUsage(db: Queryable, teamId: string): Promise<QuotaUsage> {
  return usageWhere(db, "team_id = $1", teamId);
}

async function usageWhere(
  db: Queryable,
  where: "org_id = $1" | "team_id = $1",
  id: string,
): Promise<QuotaUsage> {
  const { rows } = await db.query<{
    boxes: number;
    running: number;
    cpu: string;
    memory: string;
    disk: string;
    gpus: string;
  }>(
    `SELECT count(*)::int AS boxes,
            count(*) FILTER (WHERE desired_state NOT IN ('stopped', 'deleted'))::int AS running,
            coalesce(sum((resources->>'cpu')::numeric) FILTER (WHERE desired_state NOT IN ('stopped', 'deleted')), 0) AS cpu,
            coalesce(sum((resources->>'memoryMiB')::int) FILTER (WHERE desired_state NOT IN ('stopped', 'deleted')), 0) AS memory,
            coalesce(sum((resources->>'diskGiB')::int), 0) AS disk,
            coalesce(sum((resources->>'gpus')::int) FILTER (WHERE desired_state NOT IN ('stopped', 'deleted')), 0) AS gpus
       FROM boxes WHERE ${where} AND deleted_at IS NULL AND desired_state <> 'deleted' AND pool_id IS NULL`,
    [id],
  );
  const r = rows[0]!;
  return {
    boxes: r.boxes,
    runningBoxes: r.running,
    cpu: Number(r.cpu),
    memoryMiB: Number(r.memory),
    diskGiB: Number(r.disk),
    gpus: Number(r.gpus),
  };
}

/**
 * Serialises quota admission within one org for the rest of the transaction.
 * An advisory lock, not a row lock on the org: inserting a box already holds
 * a key-share lock on the org row (the foreign key), and upgrading it in two
 * transactions at once would deadlock.
 */
export async function lockOrgForAdmission(db: Queryable, orgId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended('quota:' || $1, 0))`, [orgId]);
}
