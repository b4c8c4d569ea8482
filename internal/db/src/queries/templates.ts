import type { Queryable } from "../pool.ts";

export interface TemplateVersionRow {
  template_id: string;
  name: string;
  version: number;
  spec: unknown;
  created_by_username: string | null;
  created_at: Date;
  /** Status of the version's image build; null for versions pushed before builds were recorded. */
  build_status: "queued" | "building" | "ready" | "failed" | null;
  /** What the spec was converted from (a devcontainer.json), or null. */
  source: unknown;
}

const VERSION_VIEW = `SELECT v.template_id, t.name, v.version, v.spec, v.source, u.username AS created_by_username, v.created_at,
  b.status AS build_status
  FROM template_versions v JOIN templates t ON t.id = v.template_id LEFT JOIN users u ON u.id = v.created_by
  LEFT JOIN template_builds b ON b.template_id = v.template_id AND b.version = v.version`;

/**
 * Adds a version: the first POST of a name creates the template, each later
 * one the next version number. Serialised per template by the row lock.
 */
export async function addTemplateVersion(
  db: Queryable,
  t: { id: string; orgId: string; name: string; spec: unknown; source?: unknown; userId: string },
): Promise<TemplateVersionRow> {
  await db.query(
    `INSERT INTO templates (id, org_id, name) VALUES ($1, $2, $3) ON CONFLICT (org_id, name) DO NOTHING`,
    [t.id, t.orgId, t.name],
  );
  const { rows: tpl } = await db.query<{ id: string }>(
    `SELECT id FROM templates WHERE org_id = $1 AND name = $2 FOR UPDATE`,
    [t.orgId, t.name],
  );
  const templateId = tpl[0]!.id;
  await db.query(
    `INSERT INTO template_versions (template_id, version, spec, source, created_by)
     SELECT $1, coalesce(max(version), 0) + 1, $2, $4, $3 FROM template_versions WHERE template_id = $1`,
    [templateId, JSON.stringify(t.spec), t.userId, t.source === undefined ? null : JSON.stringify(t.source)],
  );
  const { rows } = await db.query<TemplateVersionRow>(
    `${VERSION_VIEW} WHERE v.template_id = $1 ORDER BY v.version DESC LIMIT 1`,
    [templateId],
  );
  return rows[0]!;
}

/** The given version of an org's template, or its latest. */
export async function getTemplateVersion(
  db: Queryable,
  orgId: string,
  name: string,
  version?: number,
): Promise<TemplateVersionRow | null> {
  const { rows } = await db.query<TemplateVersionRow>(
    `${VERSION_VIEW} WHERE t.org_id = $1 AND t.name = $2 AND ($3::int IS NULL OR v.version = $3)
      ORDER BY v.version DESC LIMIT 1`,
    [orgId, name, version ?? null],
  );
  return rows[0] ?? null;
}

/** Each template of the org at its latest version. */
export async function listLatestTemplates(db: Queryable, orgId: string): Promise<TemplateVersionRow[]> {
  const { rows } = await db.query<TemplateVersionRow>(
    `SELECT DISTINCT ON (t.name) v.template_id, t.name, v.version, v.spec, v.source, u.username AS created_by_username, v.created_at,
            b.status AS build_status
       FROM template_versions v JOIN templates t ON t.id = v.template_id LEFT JOIN users u ON u.id = v.created_by
       LEFT JOIN template_builds b ON b.template_id = v.template_id AND b.version = v.version
      WHERE t.org_id = $1 ORDER BY t.name, v.version DESC`,
    [orgId],
  );
  return rows;
}

export async function listTemplateVersions(
  db: Queryable,
  orgId: string,
  name: string,
): Promise<TemplateVersionRow[]> {
  const { rows } = await db.query<TemplateVersionRow>(
    `${VERSION_VIEW} WHERE t.org_id = $1 AND t.name = $2 ORDER BY v.version DESC`,
    [orgId, name],
  );
  return rows;
}
