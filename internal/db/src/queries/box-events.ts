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
  /** 'transition' (a state change) or 'oom_kill' (a process killed for lack of memory; state unchanged). */
  kind: "transition" | "oom_kill";
}

/** Appends a state change and notifies listeners (the SSE stream) with the box id. */
export async function insertBoxEvent(
  db: Queryable,
  e: { boxId: string; orgId: string; generation: number; from: string | null; to: string; reason: string },
): Promise<void> {
  // One round trip: a data-modifying WITH runs in full whatever the outer SELECT reads.
  await db.query(
    `WITH e AS (
       INSERT INTO box_events (box_id, org_id, generation, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6))
     SELECT pg_notify('boxyard_box_events', $1)`,
    [e.boxId, e.orgId, e.generation, e.from, e.to, e.reason],
  );
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

/** One row of a box's history: a state change ('state') or an audit event aimed at the box ('action'). */
export interface BoxHistoryRow {
  src: "state" | "action";
  /** For a 'state' row, the box event's kind: a state change or an OOM kill. */
  event_kind: "transition" | "oom_kill" | null;
  id: number;
  at: Date;
  /** `at` in microseconds since the epoch: what a page cursor carries (a Date keeps only milliseconds). */
  at_us: string;
  from_state: string | null;
  to_state: string | null;
  generation: number | null;
  reason: string | null;
  actor_kind: string | null;
  actor_name: string | null;
  action: string | null;
  result: "success" | "denied" | "failed" | null;
  details: Record<string, unknown> | null;
}

/** Where the previous page of a box's history ended. */
export interface BoxHistoryPosition {
  atUs: string;
  src: "state" | "action";
  id: number;
}

/**
 * A box's state changes and the audit events aimed at it, merged newest
 * first. The audit half is read through the org's index, then narrowed to
 * the box.
 */
export async function listBoxHistory(
  db: Queryable,
  q: { boxId: string; orgId: string; before?: BoxHistoryPosition; limit: number },
): Promise<BoxHistoryRow[]> {
  const { rows } = await db.query<BoxHistoryRow>(
    `SELECT * FROM (
       SELECT 'state' AS src, kind AS event_kind, id, at, (extract(epoch FROM at) * 1000000)::bigint::text AS at_us,
              from_state, to_state, generation, reason,
              NULL AS actor_kind, NULL AS actor_name, NULL AS action, NULL AS result, NULL::jsonb AS details
         FROM box_events WHERE box_id = $1
       UNION ALL
       SELECT 'action', NULL, a.id, a.at, (extract(epoch FROM a.at) * 1000000)::bigint::text,
              NULL, NULL, NULL, NULL,
              -- Some events (the browser terminal's) carry only the user's id: name them.
              a.actor_kind, COALESCE(a.actor_name, u.username), a.action, a.result, a.details
         FROM audit_events a
         LEFT JOIN users u ON a.actor_kind = 'user' AND u.id = a.actor_id
        WHERE a.org_id = $2 AND a.target_kind = 'box' AND a.target_id = $1
     ) h
     WHERE $3::bigint IS NULL OR (h.at_us::bigint, h.src, h.id) < ($3::bigint, $4::text, $5::bigint)
     ORDER BY h.at_us::bigint DESC, h.src DESC, h.id DESC
     LIMIT $6`,
    [q.boxId, q.orgId, q.before?.atUs ?? null, q.before?.src ?? null, q.before?.id ?? null, q.limit],
  );
  return rows;
}
