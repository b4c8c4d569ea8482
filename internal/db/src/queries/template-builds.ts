import type { Queryable } from "../pool.ts";

/** Characters of build log kept per build; older output is dropped from the front. */
export const BUILD_LOG_LIMIT = 1024 * 1024;

export type TemplateBuildStatus = "queued" | "building" | "ready" | "failed";

export interface TemplateBuildRow {
  id: string;
  template_id: string;
  version: number;
  image: unknown;
  status: TemplateBuildStatus;
  layers: string[] | null;
  cache_hit: boolean | null;
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

const BUILD_VIEW = `SELECT b.id, b.template_id, b.version, b.image, b.status, b.layers, b.cache_hit, b.error,
  b.node_id, n.name AS node_name, b.attempts, b.lease_expires_at, b.created_at, b.started_at, b.finished_at,
  b.log_size, b.log_start
  FROM template_builds b LEFT JOIN nodes n ON n.id = b.node_id`;

/** Requests the build of a freshly added template version and wakes the agents' build polls. */
export async function insertTemplateBuild(
  db: Queryable,
  b: { id: string; templateId: string; version: number; image: unknown },
): Promise<void> {
  await db.query(
    `INSERT INTO template_builds (id, template_id, version, image) VALUES ($1, $2, $3, $4)
     ON CONFLICT (template_id, version) DO NOTHING`,
    [b.id, b.templateId, b.version, JSON.stringify(b.image)],
  );
  await db.query(`SELECT pg_notify('boxyard_template_builds', $1)`, [b.id]);
}

export async function getTemplateBuild(
  db: Queryable,
  templateId: string,
  version: number,
): Promise<TemplateBuildRow | null> {
  const { rows } = await db.query<TemplateBuildRow>(
    `${BUILD_VIEW} WHERE b.template_id = $1 AND b.version = $2`,
    [templateId, version],
  );
  return rows[0] ?? null;
}

export async function getTemplateBuildById(db: Queryable, id: string): Promise<TemplateBuildRow | null> {
  const { rows } = await db.query<TemplateBuildRow>(`${BUILD_VIEW} WHERE b.id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Claims the oldest build nobody is working on: a queued one, or one whose
 * agent stopped renewing its lease (that agent died mid-build). Returns it
 * with status building, owned by `nodeId` until the lease runs out.
 */
export async function claimTemplateBuild(
  db: Queryable,
  c: { nodeId: string; leaseMs: number },
): Promise<TemplateBuildRow | null> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE template_builds SET status = 'building', node_id = $1, attempts = attempts + 1,
            started_at = now(), lease_expires_at = now() + make_interval(secs => $2)
      WHERE id = (SELECT id FROM template_builds
                   WHERE status = 'queued' OR (status = 'building' AND lease_expires_at < now())
                   ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [c.nodeId, c.leaseMs / 1000],
  );
  if (!rows[0]) return null;
  return getTemplateBuildById(db, rows[0].id);
}

/**
 * What the building node reports: log text to append, and possibly the end
 * (ready with its layers, or failed with the reason). Renews the lease.
 * False when the build is not this node's any more (its lease ran out and
 * another node took it, or it already ended): the caller stops reporting.
 */
export async function updateTemplateBuild(
  db: Queryable,
  u: {
    id: string;
    nodeId: string;
    leaseMs: number;
    log?: string;
    status?: "building" | "ready" | "failed";
    layers?: string[];
    cacheHit?: boolean;
    error?: string;
  },
): Promise<boolean> {
  const done = u.status === "ready" || u.status === "failed";
  const { rowCount } = await db.query(
    `UPDATE template_builds SET
        log = right(log || $3, ${BUILD_LOG_LIMIT}),
        log_size = log_size + length($3),
        log_start = log_size + length($3) - length(right(log || $3, ${BUILD_LOG_LIMIT})),
        status = coalesce($4, status),
        layers = coalesce($5::jsonb, layers),
        cache_hit = coalesce($6, cache_hit),
        error = coalesce($7, error),
        finished_at = CASE WHEN $8 THEN now() ELSE finished_at END,
        lease_expires_at = CASE WHEN $8 THEN NULL ELSE now() + make_interval(secs => $9) END
      WHERE id = $1 AND node_id = $2 AND status = 'building'`,
    [
      u.id,
      u.nodeId,
      u.log ?? "",
      u.status ?? null,
      u.layers ? JSON.stringify(u.layers) : null,
      u.cacheHit ?? null,
      u.error ?? null,
      done,
      u.leaseMs / 1000,
    ],
  );
  if ((rowCount ?? 0) === 0) return false;
  await db.query(`SELECT pg_notify('boxyard_template_build_changed', $1)`, [u.id]);
  return true;
}

/**
 * The retained log from character `offset` (of everything ever written) up
 * to `end`; an offset before what is kept starts at the oldest kept text.
 */
export async function readTemplateBuildLog(
  db: Queryable,
  r: { id: string; offset: number; end?: number },
): Promise<{ text: string; from: number; size: number }> {
  const { rows } = await db.query<{ text: string; from: string; size: string }>(
    `SELECT substr(log, greatest($2::bigint, log_start)::int - log_start::int + 1,
                   greatest(0, least(coalesce($3::bigint, log_size), log_size) - greatest($2::bigint, log_start))::int) AS text,
            greatest($2::bigint, log_start) AS "from", log_size AS size
       FROM template_builds WHERE id = $1`,
    [r.id, r.offset, r.end ?? null],
  );
  const row = rows[0];
  if (!row) return { text: "", from: r.offset, size: 0 };
  return { text: row.text ?? "", from: Number(row.from), size: Number(row.size) };
}

/**
 * Queues a failed build again (a transient failure: the mirror was down),
 * noting who asked in its log. False when the build is not failed.
 */
export async function requeueTemplateBuild(db: Queryable, r: { id: string; note: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE template_builds SET status = 'queued', node_id = NULL, layers = NULL, cache_hit = NULL, error = NULL,
            started_at = NULL, finished_at = NULL, lease_expires_at = NULL, created_at = now(),
            log = right(log || $2, ${BUILD_LOG_LIMIT}),
            log_size = log_size + length($2),
            log_start = log_size + length($2) - length(right(log || $2, ${BUILD_LOG_LIMIT}))
      WHERE id = $1 AND status = 'failed'`,
    [r.id, r.note],
  );
  if ((rowCount ?? 0) === 0) return false;
  await db.query(`SELECT pg_notify('boxyard_template_builds', $1)`, [r.id]);
  await db.query(`SELECT pg_notify('boxyard_template_build_changed', $1)`, [r.id]);
  return true;
}
