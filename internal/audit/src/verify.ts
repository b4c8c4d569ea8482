import type { AuditEventRow, Queryable } from "@boxyard/db";
import { chainHash, GENESIS_HASH } from "./canonical.ts";
import { type AuditEvent, chainOf, hashedFields } from "./record.ts";

/** An audit row as stored (the same shape the org's audit listing reads). */
export type AuditRow = AuditEventRow;

/** A chain head recorded outside the database (see anchors.ts). */
export interface ChainAnchor {
  chain: string;
  seq: number;
  hash: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBadEventId?: number;
  /** edited | missing | reordered | truncated */
  problem?: string;
  detail?: string;
}

export function rowToEvent(r: AuditRow): AuditEvent {
  return {
    orgId: r.org_id,
    actor: { kind: r.actor_kind, id: r.actor_id, name: r.actor_name },
    action: r.action,
    target: { kind: r.target_kind ?? "", id: r.target_id, name: r.target_name },
    result: r.result,
    requestId: r.request_id,
    sourceIp: r.source_ip,
    details: r.details,
    at: r.at,
  };
}

function recompute(r: AuditRow): string {
  const e = rowToEvent(r);
  const f = hashedFields(r.chain, r.seq, e);
  // A target with no kind was stored as NULL; hash it the way it was written.
  if (r.target_kind === null) f.target.kind = null;
  return chainHash(r.prev_hash, f);
}

/**
 * Walks an org's chain from the start and recomputes every link. Finds an
 * edited row (its hash no longer matches), a deleted row (a gap in the
 * sequence or a broken link), rows moved around (links break), and, given the
 * last exported anchor, a truncated tail.
 */
export async function verifyChain(
  db: Queryable,
  orgId: string | null,
  anchor?: ChainAnchor,
): Promise<VerifyResult> {
  const chain = chainOf(orgId);
  let prevHash = GENESIS_HASH;
  let expectSeq = 1;
  let checked = 0;
  let lastSeq = 0;
  let after = 0;
  for (;;) {
    const { rows } = await db.query<AuditRow>(
      "SELECT * FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT 1000",
      [chain, after],
    );
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.seq !== expectSeq) {
        return {
          ok: false,
          checked,
          firstBadEventId: r.id,
          problem: "missing",
          detail: `expected event ${expectSeq}, found ${r.seq}`,
        };
      }
      if (r.prev_hash !== prevHash) {
        return {
          ok: false,
          checked,
          firstBadEventId: r.id,
          problem: "reordered",
          detail: `event ${r.seq} does not follow event ${r.seq - 1}`,
        };
      }
      if (recompute(r) !== r.hash) {
        return {
          ok: false,
          checked,
          firstBadEventId: r.id,
          problem: "edited",
          detail: `event ${r.seq} was changed after it was written`,
        };
      }
      prevHash = r.hash;
      expectSeq++;
      checked++;
      lastSeq = r.seq;
    }
    after = rows.at(-1)!.seq;
  }
  if (anchor && anchor.chain === chain) {
    if (lastSeq < anchor.seq) {
      return {
        ok: false,
        checked,
        problem: "truncated",
        detail: `the chain ends at event ${lastSeq} but event ${anchor.seq} was recorded outside the database`,
      };
    }
    const { rows } = await db.query<{ hash: string }>(
      "SELECT hash FROM audit_events WHERE chain = $1 AND seq = $2",
      [chain, anchor.seq],
    );
    if (rows[0]?.hash !== anchor.hash) {
      return {
        ok: false,
        checked,
        problem: "edited",
        detail: `event ${anchor.seq} differs from the copy recorded outside the database`,
      };
    }
  }
  return { ok: true, checked };
}
