import type { Queryable } from "../pool.ts";

/** An audit row as stored (internal/audit writes and verifies the chain; this reads an org's page of it). */
export interface AuditEventRow {
  id: number;
  chain: string;
  seq: number;
  org_id: string | null;
  at: Date;
  actor_kind: "user" | "system" | "anonymous";
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target_kind: string | null;
  target_id: string | null;
  target_name: string | null;
  result: "success" | "denied" | "failed";
  request_id: string | null;
  source_ip: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** One page of an org's audit chain, newest first; `beforeId` is the cursor. */
export async function listAuditEventsByOrg(
  db: Queryable,
  orgId: string,
  f: { action?: string; result?: string; beforeId?: number | string; limit: number },
): Promise<AuditEventRow[]> {
  const { rows } = await db.query<AuditEventRow>(
    `SELECT * FROM audit_events
      WHERE chain = $1 AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR result = $3)
        AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [orgId, f.action ?? null, f.result ?? null, f.beforeId ?? null, f.limit],
  );
  return rows;
}
