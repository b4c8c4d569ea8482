import type { Queryable } from "../pool.ts";
import { bumpNodeDesiredVersion } from "./nodes.ts";

export type SecretScope = "org" | "team" | "user";

/** A secret without its value: what listings and the API may see. */
export interface SecretMetaRow {
  id: string;
  org_id: string;
  name: string;
  scope: SecretScope;
  team_id: string | null;
  team_name: string | null;
  user_id: string | null;
  username: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A secret with its sealed value, for the one path that opens it (delivery to a box). */
export interface SealedSecretRow {
  id: string;
  name: string;
  scope: SecretScope;
  ciphertext: Buffer;
  wrapped_key: Buffer;
  key_id: string;
}

const META = `SELECT s.id, s.org_id, s.name, s.scope, s.team_id, t.name AS team_name, s.user_id, u.username,
                     s.created_at, s.updated_at
                FROM secrets s LEFT JOIN teams t ON t.id = s.team_id LEFT JOIN users u ON u.id = s.user_id`;

export interface SecretHolder {
  orgId: string;
  name: string;
  scope: SecretScope;
  teamId?: string | null;
  userId?: string | null;
}

/** Sets a secret's value: a new row, or the same row (same id) with a new value. */
export async function upsertSecret(
  db: Queryable,
  s: SecretHolder & {
    newId: string;
    seal: (id: string) => { ciphertext: Buffer; wrappedKey: Buffer; keyId: string };
    createdBy: string;
  },
): Promise<{ row: SecretMetaRow; created: boolean }> {
  const existing = await getSecretMeta(db, s);
  const id = existing?.id ?? s.newId;
  const sealed = s.seal(id);
  if (existing) {
    await db.query(
      `UPDATE secrets SET ciphertext = $2, wrapped_key = $3, key_id = $4, updated_at = now() WHERE id = $1`,
      [id, sealed.ciphertext, sealed.wrappedKey, sealed.keyId],
    );
  } else {
    await db.query(
      `INSERT INTO secrets (id, org_id, name, scope, team_id, user_id, ciphertext, wrapped_key, key_id, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        id,
        s.orgId,
        s.name,
        s.scope,
        s.teamId ?? null,
        s.userId ?? null,
        sealed.ciphertext,
        sealed.wrappedKey,
        sealed.keyId,
        s.createdBy,
      ],
    );
  }
  const row = (await db.query<SecretMetaRow>(`${META} WHERE s.id = $1`, [id])).rows[0]!;
  await wakeNodesUsing(db, s.orgId, s.name);
  return { row, created: !existing };
}

/**
 * The nodes of the live boxes that list this secret name see their desired
 * set move (each box's secrets revision changed), so a running box gets the
 * new value, or loses the deleted one, without a restart.
 */
async function wakeNodesUsing(db: Queryable, orgId: string, name: string): Promise<void> {
  const { rows } = await db.query<{ node_id: string }>(
    `SELECT DISTINCT node_id FROM boxes
      WHERE org_id = $1 AND secrets ? $2 AND node_id IS NOT NULL AND deleted_at IS NULL ORDER BY node_id`,
    [orgId, name],
  );
  for (const r of rows) await bumpNodeDesiredVersion(db, r.node_id);
}

/** The secret of that name held by exactly that scope holder. */
export async function getSecretMeta(db: Queryable, s: SecretHolder): Promise<SecretMetaRow | null> {
  const { rows } = await db.query<SecretMetaRow>(
    `${META} WHERE s.org_id = $1 AND s.name = $2 AND s.scope = $3
        AND COALESCE(s.team_id, '') = COALESCE($4, '') AND COALESCE(s.user_id, '') = COALESCE($5, '')`,
    [s.orgId, s.name, s.scope, s.teamId ?? null, s.userId ?? null],
  );
  return rows[0] ?? null;
}

/**
 * The org's secrets a user may see listed: org- and team-scoped ones, and
 * user-scoped ones only their own (or everyone's, for `allUsers`).
 */
export async function listSecrets(
  db: Queryable,
  orgId: string,
  o: { userId: string; allUsers: boolean },
): Promise<SecretMetaRow[]> {
  const { rows } = await db.query<SecretMetaRow>(
    `${META} WHERE s.org_id = $1 AND (s.scope <> 'user' OR $3 OR s.user_id = $2)
      ORDER BY s.name, s.scope, t.name NULLS FIRST, u.username NULLS FIRST`,
    [orgId, o.userId, o.allUsers],
  );
  return rows;
}

export async function deleteSecret(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query<{ org_id: string; name: string }>(
    `DELETE FROM secrets WHERE id = $1 RETURNING org_id, name`,
    [id],
  );
  const gone = rows[0];
  if (gone) await wakeNodesUsing(db, gone.org_id, gone.name);
  return gone !== undefined;
}

/**
 * For each name, the secret a box gets: the owner's own (user scope) over
 * the box's team's over the org's. Names with no secret are left out.
 */
export async function resolveSecretsForBox(
  db: Queryable,
  box: { orgId: string; ownerId: string | null; teamId: string | null },
  names: readonly string[],
): Promise<SealedSecretRow[]> {
  if (names.length === 0) return [];
  const { rows } = await db.query<SealedSecretRow>(
    `SELECT DISTINCT ON (s.name) s.id, s.name, s.scope, s.ciphertext, s.wrapped_key, s.key_id
       FROM secrets s
      WHERE s.org_id = $1 AND s.name = ANY($4::text[])
        AND (s.scope = 'org' OR (s.scope = 'team' AND s.team_id = $3) OR (s.scope = 'user' AND s.user_id = $2))
      ORDER BY s.name, CASE s.scope WHEN 'user' THEN 0 WHEN 'team' THEN 1 ELSE 2 END`,
    [box.orgId, box.ownerId, box.teamId, names],
  );
  return rows;
}
