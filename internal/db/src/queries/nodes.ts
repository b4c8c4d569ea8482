import type { Queryable } from "../pool.ts";

export interface NodeRow {
  id: string;
  name: string;
  runtime: string;
  capacity: { cpu: number; memoryMiB: number; diskGiB: number; gpus: number };
  labels: Record<string, string>;
  cached_images: string[];
  agent_version: string;
  status: string;
  health: { ok?: boolean; detail?: string };
  usage: Record<string, unknown>;
  last_heartbeat_at: Date | null;
  desired_version: number;
  token_hash: Buffer | null;
  created_at: Date;
}

/** Registration is idempotent by name: a restarted agent keeps its node id. */
export async function upsertNode(
  db: Queryable,
  n: {
    id: string;
    name: string;
    runtime: string;
    capacity: unknown;
    labels: unknown;
    cachedImages: string[];
    agentVersion: string;
  },
): Promise<NodeRow> {
  const { rows } = await db.query<NodeRow>(
    `INSERT INTO nodes (id, name, runtime, capacity, labels, cached_images, agent_version, status, last_heartbeat_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'ready', now())
     ON CONFLICT (name) DO UPDATE SET runtime = EXCLUDED.runtime, capacity = EXCLUDED.capacity,
        labels = EXCLUDED.labels, cached_images = EXCLUDED.cached_images,
        agent_version = EXCLUDED.agent_version, status = 'ready', last_heartbeat_at = now()
     RETURNING *`,
    [
      n.id,
      n.name,
      n.runtime,
      JSON.stringify(n.capacity),
      JSON.stringify(n.labels),
      JSON.stringify(n.cachedImages),
      n.agentVersion,
    ],
  );
  return rows[0]!;
}

export async function recordNodeHeartbeat(
  db: Queryable,
  h: { id: string; usage: unknown; health: { ok: boolean }; cachedImages?: string[] },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE nodes SET last_heartbeat_at = now(), usage = $2, health = $3,
            status = CASE WHEN $4 THEN 'ready' ELSE 'unhealthy' END,
            cached_images = COALESCE($5::jsonb, cached_images)
      WHERE id = $1`,
    [
      h.id,
      JSON.stringify(h.usage),
      JSON.stringify(h.health),
      h.health.ok,
      h.cachedImages ? JSON.stringify(h.cachedImages) : null,
    ],
  );
  return (rowCount ?? 0) > 0;
}

export async function getNodeById(db: Queryable, id: string): Promise<NodeRow | null> {
  const { rows } = await db.query<NodeRow>(`SELECT * FROM nodes WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function getNodeByName(db: Queryable, name: string): Promise<NodeRow | null> {
  const { rows } = await db.query<NodeRow>(`SELECT * FROM nodes WHERE name = $1`, [name]);
  return rows[0] ?? null;
}

export interface NodeWithAllocationRow extends NodeRow {
  alloc_cpu: number;
  alloc_memory_mib: number;
  alloc_disk_gib: number;
  alloc_gpus: number;
  boxes: number;
  /** Milliseconds since the last heartbeat by the database clock; null if never. */
  heartbeat_age_ms: number | null;
}

/**
 * Every node with what its boxes hold: compute for boxes that want to run
 * or are still releasing it, disk for every live box (stop keeps disks).
 */
export async function listNodesWithAllocation(db: Queryable): Promise<NodeWithAllocationRow[]> {
  const { rows } = await db.query<NodeWithAllocationRow>(
    `WITH holds AS (
       SELECT node_id, resources,
              (desired_state IN ('running', 'paused')
               OR actual_state IN ('provisioning', 'starting', 'running', 'stopping', 'pausing', 'paused',
                                   'resuming', 'deleting')) AS compute
         FROM boxes WHERE node_id IS NOT NULL AND deleted_at IS NULL)
     SELECT n.*,
            COALESCE(sum((h.resources->>'cpu')::float8) FILTER (WHERE h.compute), 0)::float8 AS alloc_cpu,
            COALESCE(sum((h.resources->>'memoryMiB')::int) FILTER (WHERE h.compute), 0)::int AS alloc_memory_mib,
            COALESCE(sum((h.resources->>'diskGiB')::int), 0)::int AS alloc_disk_gib,
            COALESCE(sum((h.resources->>'gpus')::int) FILTER (WHERE h.compute), 0)::int AS alloc_gpus,
            count(h.node_id)::int AS boxes,
            (EXTRACT(EPOCH FROM now() - n.last_heartbeat_at) * 1000)::float8 AS heartbeat_age_ms
       FROM nodes n LEFT JOIN holds h ON h.node_id = n.id
      GROUP BY n.id
      ORDER BY n.name`,
  );
  return rows;
}

/** Marks the node's desired set changed; its agent's long poll wakes on the notification. */
export async function bumpNodeDesiredVersion(db: Queryable, nodeId: string): Promise<void> {
  // One round trip: a data-modifying WITH runs in full whatever the outer SELECT reads.
  await db.query(
    `WITH n AS (UPDATE nodes SET desired_version = nextval('node_desired_seq') WHERE id = $1)
     SELECT pg_notify('boxyard_node_desired', $1)`,
    [nodeId],
  );
}

export interface DesiredBoxRow {
  id: string;
  name: string;
  node_generation: number;
  node_phase: string;
  image: Record<string, unknown>;
  resources: { cpu: number; memoryMiB: number; diskGiB: number; gpus: number };
  pause_mode: "hot" | "cold";
  network: { egress: unknown } | null;
  machine_id: string | null;
  owner_id: string | null;
  secrets: string[];
  repo: { url: string; ref?: string; secret?: string } | null;
  prebuild: { id: string; layer: string; commit: string | null } | null;
  env: Record<string, string>;
  on_start: string[];
  /**
   * Changes whenever a value the box's secret names resolve to is set,
   * rotated or deleted (a digest of their ids and update times); null for a
   * box without secrets. The node delivers the secrets again when it moves.
   */
  secrets_revision: string | null;
}

/** The node's desired-set version alone (null: no such node): what a waiting agent polls. */
export async function getNodeDesiredVersion(db: Queryable, nodeId: string): Promise<number | null> {
  const { rows } = await db.query<{ desired_version: number }>(
    `SELECT desired_version FROM nodes WHERE id = $1`,
    [nodeId],
  );
  return rows[0]?.desired_version ?? null;
}

/** The node's version and every live box the reconciler has published to it. */
export async function getNodeDesiredSet(
  db: Queryable,
  nodeId: string,
): Promise<{ version: number; boxes: DesiredBoxRow[] } | null> {
  const node = await db.query<{ desired_version: number }>(
    `SELECT desired_version FROM nodes WHERE id = $1`,
    [nodeId],
  );
  const version = node.rows[0]?.desired_version;
  if (version === undefined) return null;
  const { rows } = await db.query<DesiredBoxRow>(
    `SELECT b.id, b.name, b.node_generation, b.node_phase, b.image, b.resources, b.pause_mode, b.network,
            b.machine_id, b.owner_id, b.secrets, b.repo, b.prebuild, b.env, b.on_start,
            CASE WHEN jsonb_array_length(b.secrets) > 0 THEN
              (SELECT md5(COALESCE(string_agg(s.id || '@' || s.updated_at::text, ',' ORDER BY s.id), ''))
                 FROM secrets s
                WHERE s.org_id = b.org_id AND b.secrets ? s.name
                  AND (s.scope = 'org' OR (s.scope = 'team' AND s.team_id = b.team_id)
                       OR (s.scope = 'user' AND s.user_id = b.owner_id)))
            END AS secrets_revision
       FROM boxes b
      WHERE b.node_id = $1 AND b.deleted_at IS NULL AND b.node_phase IS NOT NULL ORDER BY b.id`,
    [nodeId],
  );
  return { version, boxes: rows };
}

/** Sets the hash of the node's agent token (a new one on every registration). */
export async function setNodeTokenHash(db: Queryable, id: string, hash: Buffer): Promise<void> {
  await db.query(`UPDATE nodes SET token_hash = $2 WHERE id = $1`, [id, hash]);
}

/**
 * Sets how a paused box is kept. A change reaches the box's node at once (its
 * desired set moves) without a new generation: it is a hint about how to hold
 * the same desired state, not a new one.
 */
export async function setBoxPauseMode(db: Queryable, boxId: string, mode: "hot" | "cold"): Promise<void> {
  const { rows } = await db.query<{ node_id: string | null; changed: boolean }>(
    `UPDATE boxes b SET pause_mode = $2 FROM (SELECT id, pause_mode AS old FROM boxes WHERE id = $1) o
      WHERE b.id = o.id RETURNING b.node_id, o.old <> $2 AS changed`,
    [boxId, mode],
  );
  const r = rows[0];
  if (r?.changed && r.node_id) await bumpNodeDesiredVersion(db, r.node_id);
}

/**
 * Serialises placements until the transaction ends: placement reads every
 * node's allocation, so two workers must not both fill a node's last slot.
 */
export async function lockScheduler(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('boxyard_scheduler'))`);
}
