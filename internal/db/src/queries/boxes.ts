import type { Queryable } from "../pool.ts";

export interface BoxRow {
  id: string;
  org_id: string;
  name: string;
  /** Null only while the box sits in a warm pool (pool_id set). */
  owner_id: string | null;
  team_id: string | null;
  template: string;
  template_version: number;
  image: Record<string, unknown>;
  resources: { cpu: number; memoryMiB: number; diskGiB: number; gpus: number };
  persistent: boolean;
  desired_state: string;
  actual_state: string;
  generation: number;
  observed_generation: number;
  version: number;
  node_id: string | null;
  node_phase: string | null;
  node_generation: number;
  last_error: {
    code: string;
    message: string;
    at: string;
    attempts: number;
    permanent: boolean;
  } | null;
  attempts: number;
  next_attempt_at: Date | null;
  lease_holder: string | null;
  lease_expires_at: Date | null;
  agent_phase: string | null;
  agent_generation: number;
  agent_seq: number;
  agent_reason: string | null;
  agent_error: { code: string; message: string; permanent: boolean; attempts: number } | null;
  agent_address: string | null;
  state_entered_at: Date;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  /** The warm pool holding this ownerless box; null for every box a user sees. */
  pool_id: string | null;
  claimed_at: Date | null;
  /** /etc/machine-id of the box (null for boxes made before identities were published). */
  machine_id: string | null;
  /** "hostname machine-id" the node last reported as applied in the box. */
  agent_identity: string | null;
  /** Secret names from the box's template, delivered as files at run time. */
  secrets: string[];
  /** The template's repository, cloned into /workspace at first start. */
  repo: BoxRepo | null;
  /** The commit the node reported checked out. */
  repo_commit: string | null;
  /** The prebuild the box starts from (its layer is the box's top image layer). */
  prebuild: BoxPrebuild | null;
  /** The environment of every command and session in the box (image Env, then template env). */
  env: Record<string, string>;
  /** The template's onStart commands, run each time the box's sandbox boots. */
  on_start: string[];
  /** Processes killed in the box for lack of memory, as its node reported them. */
  oom_kills: number;
  last_oom_kill: OomKillRecord | null;
}

/** A process killed in a box for lack of memory (`at` to the second, pid inside the box). */
export interface OomKillRecord {
  at: string;
  pid: number;
  command: string;
  uid: number;
  rssMiB: number;
}

/** A repository a box checks out: url, the ref to check out, and the secret used as its HTTP credential. */
export interface BoxRepo {
  url: string;
  ref?: string;
  secret?: string;
}

/** The prebuild a box was made from: its id, the layer it starts from and the commit that layer holds. */
export interface BoxPrebuild {
  id: string;
  layer: string;
  /** Null for a template without a repository (a prebuild of its init only). */
  commit: string | null;
}

/** A box joined with the names the API shows (never a pooled box: those have no owner). */
export interface BoxViewRow extends BoxRow {
  owner_id: string;
  org_name: string;
  owner_username: string;
  node_name: string | null;
  team_name: string | null;
}

const VIEW = `SELECT b.*, o.name AS org_name, u.username AS owner_username, n.name AS node_name, t.name AS team_name
  FROM boxes b JOIN orgs o ON o.id = b.org_id JOIN users u ON u.id = b.owner_id
  LEFT JOIN nodes n ON n.id = b.node_id LEFT JOIN teams t ON t.id = b.team_id`;

export interface NewBox {
  id: string;
  orgId: string;
  name: string;
  /** Null for a pooled box, which then names its pool. */
  ownerId: string | null;
  poolId?: string | null;
  /** The box's /etc/machine-id. */
  machineId?: string | null;
  teamId?: string | null;
  /** The box's network policy ({egress}); default: reaches nothing outside its node. */
  network?: unknown;
  template: string;
  templateVersion: number;
  image: unknown;
  resources: unknown;
  persistent: boolean;
  /** Secret names the box gets at run time (its template's). */
  secrets?: readonly string[];
  repo?: BoxRepo | null;
  prebuild?: BoxPrebuild | null;
  /** The box's environment and onStart commands (its template's). */
  env?: Readonly<Record<string, string>>;
  onStart?: readonly string[];
}

/** A new box wants to run and is due for its first reconcile at once. */
export async function insertBox(db: Queryable, b: NewBox): Promise<BoxRow> {
  const { rows } = await db.query<BoxRow>(
    `INSERT INTO boxes (id, org_id, name, owner_id, template, template_version, image, resources,
                        persistent, team_id, network, pool_id, machine_id, secrets, repo, prebuild, env, on_start,
                        desired_state, actual_state, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             'running', 'pending', now())
     RETURNING *`,
    [
      b.id,
      b.orgId,
      b.name,
      b.ownerId,
      b.template,
      b.templateVersion,
      JSON.stringify(b.image),
      JSON.stringify(b.resources),
      b.persistent,
      b.teamId ?? null,
      JSON.stringify(b.network ?? { egress: "deny-all" }),
      b.poolId ?? null,
      b.machineId ?? null,
      JSON.stringify(b.secrets ?? []),
      b.repo ? JSON.stringify(b.repo) : null,
      b.prebuild ? JSON.stringify(b.prebuild) : null,
      JSON.stringify(b.env ?? {}),
      JSON.stringify(b.onStart ?? []),
    ],
  );
  return rows[0]!;
}

export async function getBoxById(db: Queryable, id: string): Promise<BoxRow | null> {
  const { rows } = await db.query<BoxRow>(`SELECT * FROM boxes WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** The row, locked until the transaction ends, for read-modify-write of desired state. */
export async function getBoxByIdForUpdate(db: Queryable, id: string): Promise<BoxRow | null> {
  const { rows } = await db.query<BoxRow>(`SELECT * FROM boxes WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0] ?? null;
}

export async function getBoxViewById(db: Queryable, id: string): Promise<BoxViewRow | null> {
  const { rows } = await db.query<BoxViewRow>(`${VIEW} WHERE b.id = $1`, [id]);
  return rows[0] ?? null;
}

/** The live (not deleted) box of that name in the org. */
export async function getLiveBoxByName(
  db: Queryable,
  orgId: string,
  name: string,
): Promise<BoxViewRow | null> {
  const { rows } = await db.query<BoxViewRow>(
    `${VIEW} WHERE b.org_id = $1 AND b.name = $2 AND b.deleted_at IS NULL`,
    [orgId, name],
  );
  return rows[0] ?? null;
}

export interface ListBoxesFilter {
  actualState?: string;
  ownerUsername?: string;
  teamName?: string;
  /** Keyset cursor: rows strictly after this (created_at, kept to the millisecond as JSON carries it (migration 20); id). */
  after?: { createdAt: Date; id: string };
  limit: number;
}

export async function listBoxesByOrg(
  db: Queryable,
  orgId: string,
  f: ListBoxesFilter,
): Promise<BoxViewRow[]> {
  const { rows } = await db.query<BoxViewRow>(
    `${VIEW}
      WHERE b.org_id = $1 AND b.deleted_at IS NULL AND b.pool_id IS NULL
        AND ($2::text IS NULL OR b.actual_state = $2)
        AND ($3::text IS NULL OR u.username = $3)
        AND ($7::text IS NULL OR t.name = $7)
        AND ($4::timestamptz IS NULL OR (b.created_at, b.id) > ($4, $5))
      ORDER BY b.created_at, b.id
      LIMIT $6`,
    [
      orgId,
      f.actualState ?? null,
      f.ownerUsername ?? null,
      f.after?.createdAt ?? null,
      f.after?.id ?? "",
      f.limit,
      f.teamName ?? null,
    ],
  );
  return rows;
}

/** Sets a new desired state, bumping the generation, fenced on the version read. Null if it moved. */
export async function setBoxDesiredState(
  db: Queryable,
  b: { id: string; version: number; desiredState: string },
): Promise<BoxRow | null> {
  const { rows } = await db.query<BoxRow>(
    `UPDATE boxes SET desired_state = $3, generation = generation + 1, version = version + 1,
            next_attempt_at = now(), attempts = 0, updated_at = now()
      WHERE id = $1 AND version = $2 AND deleted_at IS NULL
      RETURNING *`,
    [b.id, b.version, b.desiredState],
  );
  return rows[0] ?? null;
}

export interface BoxReconcileWrite {
  actualState?: string;
  observedGeneration?: number;
  nodeId?: string;
  /** Publish this entry to the node's desired set. */
  nodePhase?: string;
  nodeGeneration?: number;
  lastError?: BoxRow["last_error"];
  attempts?: number;
  deleted?: boolean;
}

/**
 * The reconciler's write: applied only if the row still has the version it
 * read (compare-and-set), so a stale worker changes nothing. Null if it lost.
 */
export async function updateBoxFenced(
  db: Queryable,
  id: string,
  version: number,
  w: BoxReconcileWrite,
): Promise<BoxRow | null> {
  const { rows } = await db.query<BoxRow>(
    `UPDATE boxes SET
        actual_state = COALESCE($3, actual_state),
        state_entered_at = CASE WHEN $3::text IS NOT NULL AND $3 <> actual_state THEN now() ELSE state_entered_at END,
        observed_generation = COALESCE($4, observed_generation),
        node_id = COALESCE($5, node_id),
        last_error = CASE WHEN $6::boolean THEN $7::jsonb ELSE last_error END,
        attempts = COALESCE($8, attempts),
        deleted_at = CASE WHEN $9::boolean THEN now() ELSE deleted_at END,
        node_phase = COALESCE($10, node_phase),
        node_generation = COALESCE($11, node_generation),
        version = version + 1,
        updated_at = now()
      WHERE id = $1 AND version = $2
      RETURNING *`,
    [
      id,
      version,
      w.actualState ?? null,
      w.observedGeneration ?? null,
      w.nodeId ?? null,
      w.lastError !== undefined,
      w.lastError === undefined || w.lastError === null ? null : JSON.stringify(w.lastError),
      w.attempts ?? null,
      w.deleted === true,
      w.nodePhase ?? null,
      w.nodeGeneration ?? null,
    ],
  );
  return rows[0] ?? null;
}

export interface AgentReportWrite {
  boxId: string;
  nodeId: string;
  generation: number;
  seq: number;
  phase: string;
  reason: string | null;
  error: BoxRow["agent_error"];
  address: string | null;
  /** The identity ("hostname machine-id") the node has applied in the box, when it says. */
  identity?: string | null;
  /** The commit checked out in the box's /workspace, when the node says. */
  repoCommit?: string | null;
}

/**
 * Applies a node's report only when it is newer, by (generation, seq), than
 * the last one applied, comes from the box's node, and is not about a
 * generation the control plane never published to the node. Duplicates and reordered or
 * stale reports match no row. Makes the box due for reconcile. Returns the row as the report
 * left it, or null when the report was not applied.
 */
export async function applyAgentReport(db: Queryable, r: AgentReportWrite): Promise<BoxRow | null> {
  const { rows } = await db.query<BoxRow>(
    `UPDATE boxes SET agent_phase = $5, agent_generation = $3, agent_seq = $4, agent_reason = $6,
            agent_error = $7::jsonb, agent_address = $8, agent_identity = COALESCE($9, agent_identity),
            repo_commit = COALESCE($10, repo_commit), version = version + 1, next_attempt_at = now()
      WHERE id = $1 AND node_id = $2 AND deleted_at IS NULL AND $3 <= node_generation
        AND ($3 > agent_generation OR ($3 = agent_generation AND $4 > agent_seq))
      RETURNING *`,
    [
      r.boxId,
      r.nodeId,
      r.generation,
      r.seq,
      r.phase,
      r.reason,
      r.error === null ? null : JSON.stringify(r.error),
      r.address,
      r.identity ?? null,
      r.repoCommit ?? null,
    ],
  );
  return rows[0] ?? null;
}
