// Prebuilds (migration 0017): queued per template version and ref, claimed
// by a node agent with a lease, reported as they run (log text), and ended
// ready (the commit and the layer) or failed (the reason). The newest ready
// one for a version and ref is what new boxes start from.

import type { Queryable } from "../pool.ts";
import { BUILD_LOG_LIMIT } from "./template-builds.ts";

export type PrebuildStatus = "queued" | "building" | "ready" | "failed";

export interface PrebuildRow {
  id: string;
  org_id: string;
  template_id: string;
  template_name: string;
  version: number;
  ref: string | null;
  job: unknown;
  status: PrebuildStatus;
  trigger: "push" | "request";
  requested_by: string | null;
  requested_by_username: string | null;
  commit_id: string | null;
  layer: string | null;
  error: string | null;
  node_id: string | null;
  node_name: string | null;
  attempts: number;
  lease_expires_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  log_size: string;
  log_start: string;
}

const PREBUILD_VIEW = `SELECT p.id, p.org_id, p.template_id, t.name AS template_name, p.version, p.ref, p.job,
  p.status, p.trigger, p.requested_by, u.username AS requested_by_username, p.commit_id, p.layer, p.error,
  p.node_id, n.name AS node_name, p.attempts, p.lease_expires_at, p.created_at, p.started_at, p.finished_at,
  p.log_size, p.log_start
  FROM prebuilds p JOIN templates t ON t.id = p.template_id
  LEFT JOIN nodes n ON n.id = p.node_id LEFT JOIN users u ON u.id = p.requested_by`;

/**
 * Queues a prebuild and wakes the agents' polls. A version and ref that
 * already has one queued (nobody has started it yet) gets that one back
 * instead of a second: it would check out the same commit.
 */
export async function insertPrebuild(
  db: Queryable,
  p: {
    id: string;
    orgId: string;
    templateId: string;
    version: number;
    ref: string | null;
    job: unknown;
    trigger: "push" | "request";
    requestedBy: string | null;
  },
): Promise<{ id: string; created: boolean }> {
  const { rows: waiting } = await db.query<{ id: string }>(
    `SELECT id FROM prebuilds WHERE template_id = $1 AND version = $2 AND ref IS NOT DISTINCT FROM $3
        AND status = 'queued' ORDER BY created_at LIMIT 1`,
    [p.templateId, p.version, p.ref],
  );
  if (waiting[0]) return { id: waiting[0].id, created: false };
  await db.query(
    `INSERT INTO prebuilds (id, org_id, template_id, version, ref, job, trigger, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [p.id, p.orgId, p.templateId, p.version, p.ref, JSON.stringify(p.job), p.trigger, p.requestedBy],
  );
  await db.query(`SELECT pg_notify('boxyard_prebuilds', $1)`, [p.id]);
  return { id: p.id, created: true };
}

/** One of the org's prebuilds. */
export async function getPrebuild(db: Queryable, orgId: string, id: string): Promise<PrebuildRow | null> {
  const { rows } = await db.query<PrebuildRow>(`${PREBUILD_VIEW} WHERE p.org_id = $1 AND p.id = $2`, [
    orgId,
    id,
  ]);
  return rows[0] ?? null;
}

/** A template's prebuilds, newest first (every version, or one). */
export async function listPrebuilds(
  db: Queryable,
  orgId: string,
  templateId: string,
  opts: { version?: number; limit?: number } = {},
): Promise<PrebuildRow[]> {
  const { rows } = await db.query<PrebuildRow>(
    `${PREBUILD_VIEW} WHERE p.org_id = $1 AND p.template_id = $2 AND ($3::int IS NULL OR p.version = $3)
      ORDER BY p.created_at DESC, p.id DESC LIMIT $4`,
    [orgId, templateId, opts.version ?? null, opts.limit ?? 50],
  );
  return rows;
}

/** The newest ready prebuild of a template version for a ref: what a new box starts from. */
export async function latestReadyPrebuild(
  db: Queryable,
  orgId: string,
  q: { templateId: string; version: number; ref: string | null },
): Promise<PrebuildRow | null> {
  const { rows } = await db.query<PrebuildRow>(
    `${PREBUILD_VIEW} WHERE p.org_id = $1 AND p.template_id = $2 AND p.version = $3
        AND p.ref IS NOT DISTINCT FROM $4 AND p.status = 'ready'
      ORDER BY p.finished_at DESC, p.id DESC LIMIT 1`,
    [orgId, q.templateId, q.version, q.ref],
  );
  return rows[0] ?? null;
}

/** Any prebuild by id, for the node that runs it. */
export async function getPrebuildForNode(db: Queryable, id: string): Promise<PrebuildRow | null> {
  const { rows } = await db.query<PrebuildRow>(`${PREBUILD_VIEW} WHERE p.id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Claims the oldest prebuild nobody is working on (queued, or its agent
 * stopped renewing the lease), owned by `nodeId` until the lease runs out.
 */
export async function claimPrebuild(
  db: Queryable,
  c: { nodeId: string; leaseMs: number },
): Promise<PrebuildRow | null> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE prebuilds SET status = 'building', node_id = $1, attempts = attempts + 1,
            started_at = now(), lease_expires_at = now() + make_interval(secs => $2)
      WHERE id = (SELECT id FROM prebuilds
                   WHERE status = 'queued' OR (status = 'building' AND lease_expires_at < now())
                   ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [c.nodeId, c.leaseMs / 1000],
  );
  if (!rows[0]) return null;
  return getPrebuildForNode(db, rows[0].id);
}

/**
 * What the node running a prebuild reports: log text, and possibly the end
 * (ready with its commit and layer, or failed with the reason). Renews the
 * lease. False when the prebuild is not this node's any more.
 */
export async function updatePrebuild(
  db: Queryable,
  u: {
    id: string;
    nodeId: string;
    leaseMs: number;
    log?: string;
    status?: "building" | "ready" | "failed";
    commit?: string;
    layer?: string;
    error?: string;
  },
): Promise<boolean> {
  const done = u.status === "ready" || u.status === "failed";
  const { rowCount } = await db.query(
    `UPDATE prebuilds SET
        log = right(log || $3, ${BUILD_LOG_LIMIT}),
        log_size = log_size + length($3),
        log_start = log_size + length($3) - length(right(log || $3, ${BUILD_LOG_LIMIT})),
        status = coalesce($4, status),
        commit_id = coalesce($5, commit_id),
        layer = coalesce($6, layer),
        error = coalesce($7, error),
        finished_at = CASE WHEN $8 THEN now() ELSE finished_at END,
        lease_expires_at = CASE WHEN $8 THEN NULL ELSE now() + make_interval(secs => $9) END
      WHERE id = $1 AND node_id = $2 AND status = 'building'`,
    [
      u.id,
      u.nodeId,
      u.log ?? "",
      u.status ?? null,
      u.commit ?? null,
      u.layer ?? null,
      u.error ?? null,
      done,
      u.leaseMs / 1000,
    ],
  );
  if ((rowCount ?? 0) === 0) return false;
  await db.query(`SELECT pg_notify('boxyard_prebuild_changed', $1)`, [u.id]);
  return true;
}

/** The retained log of one of the org's prebuilds from character `offset` (of all ever written) up to `end`. */
export async function readPrebuildLog(
  db: Queryable,
  orgId: string,
  r: { id: string; offset: number; end?: number },
): Promise<{ text: string; from: number; size: number }> {
  const { rows } = await db.query<{ text: string; from: string; size: string }>(
    `SELECT substr(log, greatest($3::bigint, log_start)::int - log_start::int + 1,
                   greatest(0, least(coalesce($4::bigint, log_size), log_size) - greatest($3::bigint, log_start))::int) AS text,
            greatest($3::bigint, log_start) AS "from", log_size AS size
       FROM prebuilds WHERE org_id = $1 AND id = $2`,
    [orgId, r.id, r.offset, r.end ?? null],
  );
  const row = rows[0];
  if (!row) return { text: "", from: r.offset, size: 0 };
  return { text: row.text ?? "", from: Number(row.from), size: Number(row.size) };
}
