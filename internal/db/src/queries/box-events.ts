import type { Queryable } from "../pool.ts";

export interface BoxEventRow {
  id: number;
  box_id: string;
  org_id: string;
  generation: number;
  from_state: string | null;
  to_state: string;
  reason: string;
  at: Date;
}

/** Appends a state change and notifies listeners (the SSE stream) with the box id. */
export async function insertBoxEvent(
  db: Queryable,
  e: { boxId: string; orgId: string; generation: number; from: string | null; to: string; reason: string },
): Promise<void> {
  await db.query(
    `INSERT INTO box_events (box_id, org_id, generation, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6)`,
    [e.boxId, e.orgId, e.generation, e.from, e.to, e.reason],
  );
  await db.query(`SELECT pg_notify('boxyard_box_events', $1)`, [e.boxId]);
}

export async function listBoxEventsAfter(
  db: Queryable,
  boxId: string,
  afterId: number,
): Promise<BoxEventRow[]> {
  const { rows } = await db.query<BoxEventRow>(
    `SELECT * FROM box_events WHERE box_id = $1 AND id > $2 ORDER BY id LIMIT 500`,
    [boxId, afterId],
  );
  return rows;
}

export async function lastBoxEventId(db: Queryable, boxId: string): Promise<number> {
  const { rows } = await db.query<{ id: number | null }>(
    `SELECT max(id)::bigint AS id FROM box_events WHERE box_id = $1`,
    [boxId],
  );
  return rows[0]?.id ?? 0;
}

/** Wakes reconcile workers (in every process) after a desired change or report. */
export async function notifyBoxChanged(db: Queryable, boxId: string): Promise<void> {
  await db.query(`SELECT pg_notify('boxyard_box_changed', $1)`, [boxId]);
}
