import type { Queryable } from "../pool.ts";

export type PortVisibility = "org" | "public";

export interface BoxPortRow {
  box_id: string;
  port: number;
  visibility: PortVisibility;
  label: string;
  updated_at: Date;
}

export async function listBoxPorts(db: Queryable, boxId: string): Promise<BoxPortRow[]> {
  const { rows } = await db.query<BoxPortRow>(`SELECT * FROM box_ports WHERE box_id = $1 ORDER BY port`, [
    boxId,
  ]);
  return rows;
}

export async function getBoxPort(db: Queryable, boxId: string, port: number): Promise<BoxPortRow | null> {
  const { rows } = await db.query<BoxPortRow>(`SELECT * FROM box_ports WHERE box_id = $1 AND port = $2`, [
    boxId,
    port,
  ]);
  return rows[0] ?? null;
}

export async function upsertBoxPort(
  db: Queryable,
  p: { boxId: string; port: number; visibility: PortVisibility; label: string },
): Promise<BoxPortRow> {
  const { rows } = await db.query<BoxPortRow>(
    `INSERT INTO box_ports (box_id, port, visibility, label) VALUES ($1, $2, $3, $4)
     ON CONFLICT (box_id, port) DO UPDATE SET visibility = EXCLUDED.visibility, label = EXCLUDED.label, updated_at = now()
     RETURNING *`,
    [p.boxId, p.port, p.visibility, p.label],
  );
  return rows[0]!;
}

export async function deleteBoxPort(db: Queryable, boxId: string, port: number): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM box_ports WHERE box_id = $1 AND port = $2`, [boxId, port]);
  return (rowCount ?? 0) > 0;
}

/** A live box by org and box name, with how the port is shared (null: private), for anonymous previews. */
export async function findSharedPort(
  db: Queryable,
  orgName: string,
  boxName: string,
  port: number,
): Promise<{ box_id: string; org_id: string; visibility: PortVisibility } | null> {
  const { rows } = await db.query<{ box_id: string; org_id: string; visibility: PortVisibility }>(
    `SELECT b.id AS box_id, b.org_id, p.visibility
       FROM boxes b JOIN orgs o ON o.id = b.org_id
       JOIN box_ports p ON p.box_id = b.id AND p.port = $3
      WHERE o.name = $1 AND b.name = $2 AND b.deleted_at IS NULL`,
    [orgName, boxName, port],
  );
  return rows[0] ?? null;
}
