import type { Queryable } from "../pool.ts";

export interface OrgRow {
  id: string;
  name: string;
  created_at: Date;
}

export interface OrgWithRoleRow extends OrgRow {
  role: string | null;
}

export interface MemberRow {
  org_name: string;
  username: string;
  role: string;
  created_at: Date;
}

export async function insertOrg(db: Queryable, o: { id: string; name: string }): Promise<OrgRow> {
  const { rows } = await db.query<OrgRow>(`INSERT INTO orgs (id, name) VALUES ($1, $2) RETURNING *`, [
    o.id,
    o.name,
  ]);
  return rows[0]!;
}

/** Orgs the user is a member of; with `all`, every org (site admins), role null where not a member. */
export async function listOrgsForUser(
  db: Queryable,
  userId: string,
  opts: { all: boolean },
): Promise<OrgWithRoleRow[]> {
  const { rows } = await db.query<OrgWithRoleRow>(
    `SELECT o.*, m.role
       FROM orgs o LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $1
      WHERE $2 OR m.user_id IS NOT NULL
      ORDER BY o.name`,
    [userId, opts.all],
  );
  return rows;
}

export async function getOrgWithRole(
  db: Queryable,
  orgId: string,
  userId: string,
): Promise<OrgWithRoleRow | null> {
  const { rows } = await db.query<OrgWithRoleRow>(
    `SELECT o.*, m.role FROM orgs o LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2 WHERE o.id = $1`,
    [orgId, userId],
  );
  return rows[0] ?? null;
}

export async function upsertOrgMember(
  db: Queryable,
  m: { orgId: string; userId: string; role: string },
): Promise<{ role: string; created_at: Date }> {
  const { rows } = await db.query<{ role: string; created_at: Date }>(
    `INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
     ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role
     RETURNING role, created_at`,
    [m.orgId, m.userId, m.role],
  );
  return rows[0]!;
}

/** Takes a user out of an org and out of its teams; the role they had, or null when they were not a member. */
export async function deleteOrgMember(db: Queryable, orgId: string, userId: string): Promise<string | null> {
  const { rows } = await db.query<{ role: string }>(
    `WITH gone AS (DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 RETURNING role),
          teams AS (DELETE FROM team_members m USING teams t
                     WHERE t.id = m.team_id AND t.org_id = $1 AND m.user_id = $2 AND EXISTS (SELECT 1 FROM gone))
     SELECT role FROM gone`,
    [orgId, userId],
  );
  return rows[0]?.role ?? null;
}

export async function countOrgOwners(db: Queryable, orgId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM org_members WHERE org_id = $1 AND role = 'owner'`,
    [orgId],
  );
  return rows[0]?.n ?? 0;
}

export async function listOrgMembersByOrg(db: Queryable, orgId: string): Promise<MemberRow[]> {
  const { rows } = await db.query<MemberRow>(
    `SELECT o.name AS org_name, u.username, m.role, m.created_at
       FROM org_members m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id
      WHERE m.org_id = $1 AND u.deleted_at IS NULL
      ORDER BY u.username`,
    [orgId],
  );
  return rows;
}
