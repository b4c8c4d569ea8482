import type { Queryable } from "../pool.ts";

export interface OciImageRow {
  org_id: string;
  digest: string;
  size_bytes: string;
  format: "oci" | "docker";
  layers: number;
  allow_setuid: boolean;
  /** The image config's Env ("NAME=value" each): the base of a box's environment. */
  env: string[];
  created_by_username: string | null;
  created_at: Date;
}

const VIEW = `SELECT i.org_id, i.digest, i.size_bytes, i.format, i.layers, i.allow_setuid, i.env,
  u.username AS created_by_username, i.created_at
  FROM oci_images i LEFT JOIN users u ON u.id = i.created_by`;

/** Records that an org uploaded an archive; uploading the same bytes again keeps the first record. */
export async function insertOciImage(
  db: Queryable,
  i: {
    orgId: string;
    digest: string;
    sizeBytes: number;
    format: "oci" | "docker";
    layers: number;
    allowSetuid: boolean;
    /** The config's Env; the same bytes always carry the same one (recorded again for older uploads). */
    env?: readonly string[];
    userId: string;
  },
): Promise<OciImageRow> {
  await db.query(
    `INSERT INTO oci_images (org_id, digest, size_bytes, format, layers, allow_setuid, created_by, env)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (org_id, digest) DO UPDATE SET allow_setuid = oci_images.allow_setuid OR EXCLUDED.allow_setuid,
       env = EXCLUDED.env`,
    [
      i.orgId,
      i.digest,
      i.sizeBytes,
      i.format,
      i.layers,
      i.allowSetuid,
      i.userId,
      JSON.stringify(i.env ?? []),
    ],
  );
  return (await getOciImage(db, i.orgId, i.digest))!;
}

export async function getOciImage(db: Queryable, orgId: string, digest: string): Promise<OciImageRow | null> {
  const { rows } = await db.query<OciImageRow>(`${VIEW} WHERE i.org_id = $1 AND i.digest = $2`, [
    orgId,
    digest,
  ]);
  return rows[0] ?? null;
}

/** Whether any org's accepted upload of this archive allowed setuid entries (the node unpacks it the same way). */
export async function ociImageAllowsSetuid(db: Queryable, digest: string): Promise<boolean | null> {
  const { rows } = await db.query<{ allow: boolean }>(
    `SELECT bool_or(allow_setuid) AS allow FROM oci_images WHERE digest = $1 HAVING count(*) > 0`,
    [digest],
  );
  return rows[0]?.allow ?? null;
}

export async function listOciImages(db: Queryable, orgId: string): Promise<OciImageRow[]> {
  const { rows } = await db.query<OciImageRow>(`${VIEW} WHERE i.org_id = $1 ORDER BY i.created_at DESC`, [
    orgId,
  ]);
  return rows;
}
