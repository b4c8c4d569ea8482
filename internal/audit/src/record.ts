import type { Queryable } from "@boxyard/db";
import { chainHash, GENESIS_HASH } from "./canonical.ts";

export interface AuditActor {
  kind: "user" | "system" | "anonymous";
  id?: string | null;
  name?: string | null;
}

export interface AuditEvent {
  /** The org whose chain this goes to; null for site-level events (users, tokens). */
  orgId: string | null;
  actor: AuditActor;
  /** `resource.verb`, e.g. `box.create`, `org.member.set`, `ssh.session.open`. */
  action: string;
  target?: { kind: string; id?: string | null; name?: string | null };
  result: "success" | "denied" | "failed";
  requestId?: string | null;
  sourceIp?: string | null;
  /** Only fields classified as safe to keep; secrets appear as "changed", never their values. */
  details?: Record<string, unknown>;
  at: Date;
}

/** The fields covered by the hash, in the form they are stored and read back. */
export function hashedFields(chain: string, seq: number, e: AuditEvent) {
  return {
    chain,
    seq,
    orgId: e.orgId,
    at: e.at.toISOString(),
    actor: { kind: e.actor.kind, id: e.actor.id ?? null, name: e.actor.name ?? null },
    action: e.action,
    target: { kind: e.target?.kind ?? null, id: e.target?.id ?? null, name: e.target?.name ?? null },
    result: e.result,
    requestId: e.requestId ?? null,
    sourceIp: e.sourceIp ?? null,
    details: e.details ?? {},
  };
}

export function chainOf(orgId: string | null): string {
  return orgId ?? "site";
}

/**
 * Appends one event to its chain. Call it in the same transaction as the
 * change it records, so there is never a change without its audit row (or an
 * audit row for a change that rolled back). Appends to one chain are
 * serialised by a transaction-scoped advisory lock.
 */
export async function recordAudit(tx: Queryable, e: AuditEvent): Promise<{ seq: number; hash: string }> {
  const chain = chainOf(e.orgId);
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('audit:' || $1, 0))", [chain]);
  const { rows } = await tx.query<{ seq: number; hash: string }>(
    "SELECT seq, hash FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
    [chain],
  );
  const seq = (rows[0]?.seq ?? 0) + 1;
  const prevHash = rows[0]?.hash ?? GENESIS_HASH;
  const fields = hashedFields(chain, seq, e);
  const hash = chainHash(prevHash, fields);
  await tx.query(
    `INSERT INTO audit_events (chain, seq, org_id, at, actor_kind, actor_id, actor_name, action,
       target_kind, target_id, target_name, result, request_id, source_ip, details, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    [
      chain,
      seq,
      e.orgId,
      e.at,
      fields.actor.kind,
      fields.actor.id,
      fields.actor.name,
      e.action,
      fields.target.kind,
      fields.target.id,
      fields.target.name,
      e.result,
      fields.requestId,
      fields.sourceIp,
      JSON.stringify(fields.details),
      prevHash,
      hash,
    ],
  );
  return { seq, hash };
}
