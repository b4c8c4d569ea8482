import type { Queryable } from "../pool.ts";

export interface NodeCommandRow {
  id: string;
  node_id: string;
  kind: "exec";
  request: unknown;
  reply: unknown | null;
  error: { code: string; message: string } | null;
  created_at: Date;
  claimed_at: Date | null;
  done_at: Date | null;
  expires_at: Date;
}

/** Queues a command for a node and tells its agent's long poll (any replica) to look. */
export async function insertNodeCommand(
  db: Queryable,
  c: { id: string; nodeId: string; kind: "exec"; request: unknown; ttlMs: number },
): Promise<void> {
  await db.query(
    `INSERT INTO node_commands (id, node_id, kind, request, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [c.id, c.nodeId, c.kind, JSON.stringify(c.request), c.ttlMs / 1000],
  );
  await db.query(`SELECT pg_notify('boxyard_node_commands', $1)`, [c.nodeId]);
}

/** The node's unclaimed, unexpired commands, now claimed by the caller (oldest first). */
export async function claimNodeCommands(
  db: Queryable,
  nodeId: string,
  limit = 16,
): Promise<NodeCommandRow[]> {
  const { rows } = await db.query<NodeCommandRow>(
    `UPDATE node_commands SET claimed_at = now()
      WHERE id IN (SELECT id FROM node_commands
                    WHERE node_id = $1 AND claimed_at IS NULL AND expires_at > now()
                    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [nodeId, limit],
  );
  return rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
}

/** Stores the reply of a claimed command; false when it is not this node's or was already answered. */
export async function completeNodeCommand(
  db: Queryable,
  c: { id: string; nodeId: string; reply?: unknown; error?: { code: string; message: string } },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE node_commands SET reply = $3, error = $4, done_at = now()
      WHERE id = $1 AND node_id = $2 AND claimed_at IS NOT NULL AND done_at IS NULL`,
    [
      c.id,
      c.nodeId,
      c.reply === undefined ? null : JSON.stringify(c.reply),
      c.error ? JSON.stringify(c.error) : null,
    ],
  );
  if ((rowCount ?? 0) === 0) return false;
  await db.query(`SELECT pg_notify('boxyard_node_command_done', $1)`, [c.id]);
  return true;
}

export async function getNodeCommand(db: Queryable, id: string): Promise<NodeCommandRow | null> {
  const { rows } = await db.query<NodeCommandRow>(`SELECT * FROM node_commands WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function deleteNodeCommand(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM node_commands WHERE id = $1`, [id]);
}

/** Removes what nobody waits for any more (a replica that died mid-call). */
export async function deleteExpiredNodeCommands(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM node_commands WHERE expires_at < now() - interval '1 minute'`,
  );
  return rowCount ?? 0;
}
