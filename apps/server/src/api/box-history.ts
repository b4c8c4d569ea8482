import { boxHistory } from "@boxyard/contract";
import type { BoxHistoryPosition, BoxHistoryRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { authorizeBox } from "./boxes.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

/**
 * The audit details a box's readers may see. Viewers read a box's history
 * but not the org's audit log, so addresses, user ids and command arguments
 * stay out; only these plain facts come through.
 */
const SHOWN_DETAILS = new Set([
  "reason",
  "desiredState",
  "mode",
  "noop",
  "port",
  "visibility",
  "template",
  "templateVersion",
  "team",
  "program",
  "claimedFromPool",
  "kind",
  "durationMs",
  "exitCode",
]);

function shownDetails(details: Record<string, unknown> | null): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(details ?? {}))
    if (SHOWN_DETAILS.has(k) && (typeof v === "string" || typeof v === "number" || typeof v === "boolean"))
      out[k] = v;
  return out;
}

const CURSOR = /^(\d{1,20})-(state|action)-(\d{1,18})$/;

export function encodeHistoryCursor(row: Pick<BoxHistoryRow, "at_us" | "src" | "id">): string {
  return `${row.at_us}-${row.src}-${row.id}`;
}

export function decodeHistoryCursor(cursor: string): BoxHistoryPosition | null {
  const m = CURSOR.exec(cursor);
  if (!m) return null;
  return { atUs: m[1]!, src: m[2] as BoxHistoryPosition["src"], id: Number(m[3]) };
}

function entryView(row: BoxHistoryRow) {
  const at = row.at.toISOString();
  if (row.src === "state" && row.event_kind === "oom_kill")
    return {
      kind: "oom_kill" as const,
      id: `s${row.id}`,
      at,
      state: row.to_state ?? "",
      reason: row.reason ?? "",
    };
  if (row.src === "state")
    return {
      kind: "state" as const,
      id: `s${row.id}`,
      at,
      from: row.from_state,
      to: row.to_state ?? "",
      generation: row.generation ?? 0,
      reason: row.reason ?? "",
    };
  return {
    kind: "action" as const,
    id: `a${row.id}`,
    at,
    action: row.action ?? "",
    actor: { kind: row.actor_kind ?? "unknown", name: row.actor_name },
    result: row.result ?? "success",
    details: shownDetails(row.details),
  };
}

/** GET .../boxes/{box}/history: state changes and actions on the box, newest first. */
export function registerBoxHistoryRoutes(r: RouteRegistrar): void {
  const { deps } = r;
  r.add(boxHistory, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "read");
    let before: BoxHistoryPosition | undefined;
    if (ctx.query.cursor !== undefined) {
      before = decodeHistoryCursor(ctx.query.cursor) ?? undefined;
      if (!before)
        throw new DomainError("validation_failed", { detail: "query.cursor: not a cursor from this API" });
    }
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listBoxHistory({
      boxId: box.id,
      orgId: access.orgId,
      ...(before ? { before } : {}),
      limit: ctx.query.limit + 1,
    });
    const page = rows.slice(0, ctx.query.limit);
    const last = page.at(-1);
    return {
      items: page.map(entryView),
      nextCursor: rows.length > ctx.query.limit && last ? encodeHistoryCursor(last) : null,
    };
  });
}
