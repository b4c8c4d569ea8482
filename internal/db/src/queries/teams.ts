import type { Queryable } from "../pool.ts";

export interface TeamRow {
  id: string;
  org_id: string;
  name: string;
  created_at: Date;
}

export interface TeamWithCountsRow extends TeamRow {
  members: number;
  boxes: number;
}

export async function insertTeam(
  db: Queryable,
  t: { id: string; orgId: string; name: string },
): Promise<TeamRow> {
  const { rows } = await db.query<TeamRow>(
    `INSERT INTO teams (id, org_id, name) VALUES ($1, $2, $3) RETURNING *`,
    [t.id, t.orgId, t.name],
  );
  return rows[0]!;
}

export async function getTeamByName(db: Queryable, orgId: string, name: string): Promise<TeamRow | null> {
  const { rows } = await db.query<TeamRow>(`SELECT * FROM teams WHERE org_id = $1 AND name = $2`, [
    orgId,
    name,
  ]);
  return rows[0] ?? null;
}

export async function listTeams(db: Queryable, orgId: string): Promise<TeamWithCountsRow[]> {
  const { rows } = await db.query<TeamWithCountsRow>(
    `SELECT t.*,
            (SELECT count(*)::int FROM team_members m WHERE m.team_id = t.id) AS members,
            (SELECT count(*)::int FROM boxes b WHERE b.team_id = t.id AND b.deleted_at IS NULL) AS boxes
       FROM teams t WHERE t.org_id = $1 ORDER BY t.name`,
    [orgId],
  );
  return rows;
}

export async function listTeamMembers(
  db: Queryable,
  teamId: string,
): Promise<Array<{ username: string; created_at: Date }>> {
  const { rows } = await db.query<{ username: string; created_at: Date }>(
    `SELECT u.username, m.created_at FROM team_members m JOIN users u ON u.id = m.user_id
      WHERE m.team_id = $1 AND u.deleted_at IS NULL ORDER BY u.username`,
    [teamId],
  );
  return rows;
}

export async function addTeamMember(db: Queryable, teamId: string, userId: string): Promise<void> {
  await db.query(`INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
    teamId,
    userId,
  ]);
}

export async function removeTeamMember(db: Queryable, teamId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, [
    teamId,
    userId,
  ]);
  return (rowCount ?? 0) > 0;
}

export async function isTeamMember(db: Queryable, teamId: string, userId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2`, [
    teamId,
    userId,
  ]);
  return rows.length > 0;
}

/** Serialises admissions within one team (like lockOrgForAdmission). */
export async function lockTeamForAdmission(db: Queryable, teamId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended('quota-team:' || $1, 0))`, [teamId]);
}
