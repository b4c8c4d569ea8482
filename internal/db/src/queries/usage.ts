import type { Queryable } from "../pool.ts";

export interface BoxUsageRow {
  box_id: string;
  name: string;
  owner: string;
  team: string | null;
  deleted: boolean;
  cpu: number;
  memory_mib: number;
  disk_gib: number;
  /** Seconds in the window the box held compute (running, or on its way in or out of it). */
  compute_seconds: number;
  /** Seconds in the window the box existed (its disk is kept all that time). */
  exists_seconds: number;
}

/**
 * Metered usage of an org's boxes in [from, to), from the state-change log:
 * each event opens an interval in its state that the box's next event (or
 * the end of the window) closes.
 */
export async function orgBoxUsage(
  db: Queryable,
  orgId: string,
  from: Date,
  to: Date,
): Promise<BoxUsageRow[]> {
  const { rows } = await db.query<BoxUsageRow>(
    `WITH ev AS (
       SELECT e.box_id, e.to_state, e.at,
              coalesce(lead(e.at) OVER (PARTITION BY e.box_id ORDER BY e.id), now()) AS until
         FROM box_events e WHERE e.org_id = $1
     ), clipped AS (
       SELECT box_id, to_state,
              greatest(0, extract(epoch FROM least(until, $3) - greatest(at, $2))) AS seconds
         FROM ev WHERE at < $3 AND until > $2
     )
     SELECT b.id AS box_id, b.name, u.username AS owner, t.name AS team, b.deleted_at IS NOT NULL AS deleted,
            (b.resources->>'cpu')::float8 AS cpu, (b.resources->>'memoryMiB')::int AS memory_mib,
            (b.resources->>'diskGiB')::int AS disk_gib,
            coalesce(sum(c.seconds) FILTER (WHERE c.to_state IN ('starting', 'running', 'pausing', 'resuming', 'stopping')), 0)::float8
              AS compute_seconds,
            coalesce(sum(c.seconds) FILTER (WHERE c.to_state NOT IN ('deleted', 'failed')), 0)::float8 AS exists_seconds
       FROM boxes b JOIN users u ON u.id = b.owner_id LEFT JOIN teams t ON t.id = b.team_id
       JOIN clipped c ON c.box_id = b.id
      WHERE b.org_id = $1
      GROUP BY b.id, u.username, t.name
      ORDER BY b.name, b.id`,
    [orgId, from, to],
  );
  return rows;
}
