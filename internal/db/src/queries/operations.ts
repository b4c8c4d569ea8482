import type { Queryable } from "../pool.ts";

export interface OperationRow {
  id: string;
  box_id: string;
  org_id: string;
  kind: string;
  target_generation: number;
  status: "pending" | "succeeded" | "failed";
  error: { code: string; message: string } | null;
  created_at: Date;
  finished_at: Date | null;
}

export async function insertOperation(
  db: Queryable,
  o: {
    id: string;
    boxId: string;
    orgId: string;
    kind: string;
    targetGeneration: number;
    succeeded?: boolean;
  },
): Promise<OperationRow> {
  const { rows } = await db.query<OperationRow>(
    `INSERT INTO operations (id, box_id, org_id, kind, target_generation, status, finished_at)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN 'succeeded' ELSE 'pending' END, CASE WHEN $6 THEN now() END)
     RETURNING *`,
    [o.id, o.boxId, o.orgId, o.kind, o.targetGeneration, o.succeeded === true],
  );
  return rows[0]!;
}

export async function getOperationById(db: Queryable, id: string): Promise<OperationRow | null> {
  const { rows } = await db.query<OperationRow>(`SELECT * FROM operations WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Finishes the box's pending operations up to `generation`: the one that
 * asked for this generation gets `status`; older ones were overtaken by a
 * later desired change and fail as superseded.
 */
export async function completeOperations(
  db: Queryable,
  c: {
    boxId: string;
    generation: number;
    status: "succeeded" | "failed";
    error?: { code: string; message: string };
  },
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE operations SET finished_at = now(),
            status = CASE WHEN target_generation = $2 THEN $3 ELSE 'failed' END,
            error = CASE WHEN target_generation = $2 THEN $4::jsonb
                         ELSE '{"code":"superseded","message":"a later request changed the desired state first"}'::jsonb END
      WHERE box_id = $1 AND status = 'pending' AND target_generation <= $2`,
    [c.boxId, c.generation, c.status, c.error ? JSON.stringify(c.error) : null],
  );
  return rowCount ?? 0;
}
