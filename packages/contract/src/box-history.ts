// A box's history: its state changes (with the reason, failures included),
// processes its OOM guard killed, and what people and the platform asked of it (from the org's audit log),
// newest first, in pages. The live stream is GET .../events; this is the
// record a box page or `boxyard events` reads back.

import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

const StateEntry = z.object({
  kind: z.literal("state"),
  /** Stable within the box's history; also what a cursor points past. */
  id: z.string(),
  at: Timestamp,
  from: z.string().nullable(),
  to: z.string(),
  generation: z.int(),
  reason: z.string(),
});

const OomKillEntry = z.object({
  kind: z.literal("oom_kill"),
  id: z.string(),
  at: Timestamp,
  /** The box's state when its OOM guard killed the process (it does not change). */
  state: z.string(),
  /** Which process, whose, and how big: `out of memory: killed pid 12 (python3) ...`. */
  reason: z.string(),
});

const ActionEntry = z.object({
  kind: z.literal("action"),
  id: z.string(),
  at: Timestamp,
  /** The audit action, e.g. `box.start`, `box.port.share`, `box.session.open`. */
  action: z.string(),
  actor: z.object({ kind: z.string(), name: z.string().nullable() }),
  result: z.enum(["success", "denied", "failed"]),
  /** A few plain facts about the action (port, visibility, mode, reason...); never addresses or arguments. */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const BoxHistoryEntry = z.discriminatedUnion("kind", [StateEntry, OomKillEntry, ActionEntry]).meta({
  id: "BoxHistoryEntry",
});

export const boxHistory = defineRoute({
  operationId: "boxHistory",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes/:box/history",
  summary:
    "The box's state changes and the actions taken on it (who, what, when, with what result), newest first, in pages",
  tags: ["boxes"],
  auth: "token",
  params: z.strictObject({ org: Name, box: Name }),
  query: z.strictObject({
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  successStatus: 200,
  response: z.object({ items: z.array(BoxHistoryEntry), nextCursor: z.string().nullable() }),
  errors: ["org_not_found", "box_not_found", "forbidden", "validation_failed"],
});
