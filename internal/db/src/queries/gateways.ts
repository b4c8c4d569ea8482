import type { Queryable } from "../pool.ts";

export interface GatewayRow {
  id: string;
  name: string;
  http_url: string;
  ssh_host: string;
  ssh_port: number;
  host_key: string;
  token_hash: Buffer;
  registered_at: Date;
  last_seen_at: Date;
}

/** Registration is idempotent by name: a restarted gateway keeps its id and gets a new token. */
export async function upsertGateway(
  db: Queryable,
  g: {
    id: string;
    name: string;
    httpUrl: string;
    sshHost: string;
    sshPort: number;
    hostKey: string;
    tokenHash: Buffer;
  },
): Promise<GatewayRow> {
  const { rows } = await db.query<GatewayRow>(
    `INSERT INTO gateways (id, name, http_url, ssh_host, ssh_port, host_key, token_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (name) DO UPDATE SET http_url = EXCLUDED.http_url, ssh_host = EXCLUDED.ssh_host,
        ssh_port = EXCLUDED.ssh_port, host_key = EXCLUDED.host_key, token_hash = EXCLUDED.token_hash,
        registered_at = now(), last_seen_at = now()
     RETURNING *`,
    [g.id, g.name, g.httpUrl, g.sshHost, g.sshPort, g.hostKey, g.tokenHash],
  );
  return rows[0]!;
}

export async function getGatewayById(db: Queryable, id: string): Promise<GatewayRow | null> {
  const { rows } = await db.query<GatewayRow>(`SELECT * FROM gateways WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function touchGateway(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE gateways SET last_seen_at = now() WHERE id = $1`, [id]);
}

/** The gateway clients should use: the one heard from most recently within `withinMs`. */
export async function currentGateway(db: Queryable, withinMs: number): Promise<GatewayRow | null> {
  const { rows } = await db.query<GatewayRow>(
    `SELECT * FROM gateways WHERE last_seen_at > now() - make_interval(secs => $1)
      ORDER BY last_seen_at DESC LIMIT 1`,
    [withinMs / 1000],
  );
  return rows[0] ?? null;
}
