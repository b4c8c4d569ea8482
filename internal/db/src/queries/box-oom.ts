import type { Queryable } from "../pool.ts";
import { newOomKills, oomKillReason } from "../oom-kills.ts";
import type { OomKillRecord } from "./boxes.ts";

/**
 * Records the kills a node reported for a box that it has not recorded yet:
 * the box's count and latest kill, and one 'oom_kill' box event each (SSE
 * listeners are notified). Returns how many were new.
 */
export async function recordOomKills(
  db: Queryable,
  q: { boxId: string; nodeId: string; kills: readonly OomKillRecord[] },
): Promise<number> {
  const { rows } = await db.query<{
    org_id: string;
    generation: number;
    actual_state: string;
    last_oom_kill: OomKillRecord | null;
  }>(
    `SELECT org_id, generation, actual_state, last_oom_kill FROM boxes
      WHERE id = $1 AND node_id = $2 AND deleted_at IS NULL FOR UPDATE`,
    [q.boxId, q.nodeId],
  );
  const box = rows[0];
  if (!box) return 0;
  const fresh = newOomKills(box.last_oom_kill, q.kills);
  const latest = fresh.at(-1);
  if (!latest) return 0;
  await db.query(`UPDATE boxes SET oom_kills = oom_kills + $2, last_oom_kill = $3::jsonb WHERE id = $1`, [
    q.boxId,
    fresh.length,
    JSON.stringify(latest),
  ]);
  for (const k of fresh)
    await db.query(
      `INSERT INTO box_events (box_id, org_id, generation, from_state, to_state, reason, kind)
       VALUES ($1, $2, $3, $4, $4, $5, 'oom_kill')`,
      [q.boxId, box.org_id, box.generation, box.actual_state, oomKillReason(k)],
    );
  await db.query(`SELECT pg_notify('boxyard_box_events', $1)`, [q.boxId]);
  return fresh.length;
}
