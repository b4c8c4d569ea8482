import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const AuditEvent = z
  .object({
    id: z.int(),
    seq: z.int(),
    at: Timestamp,
    actor: z.object({ kind: z.string(), id: z.string().nullable(), name: z.string().nullable() }),
    action: z.string(),
    target: z.object({ kind: z.string().nullable(), id: z.string().nullable(), name: z.string().nullable() }),
    result: z.enum(["success", "denied", "failed"]),
    requestId: z.string().nullable(),
    sourceIp: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    hash: z.string(),
  })
  .meta({ id: "AuditEvent" });

export const listAudit = defineRoute({
  operationId: "listAudit",
  method: "GET",
  path: "/api/v1/orgs/:org/audit",
  summary: "Audit events of an organisation, newest first",
  tags: ["audit"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  query: z.strictObject({
    action: z.string().max(100).optional(),
    result: z.enum(["success", "denied", "failed"]).optional(),
    cursor: z
      .string()
      .regex(/^\d{1,18}$/)
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  }),
  successStatus: 200,
  response: z.object({ items: z.array(AuditEvent), nextCursor: z.string().nullable() }),
  errors: ["org_not_found", "forbidden"],
});

export const verifyAudit = defineRoute({
  operationId: "verifyAudit",
  method: "GET",
  path: "/api/v1/orgs/:org/audit/verify",
  summary: "Recompute the organisation's audit hash chain and say whether it is intact",
  tags: ["audit"],
  auth: "token",
  params: z.strictObject({ org: Name }),
  successStatus: 200,
  response: z.object({
    ok: z.boolean(),
    checked: z.int(),
    firstBadEventId: z.int().optional(),
    problem: z.string().optional(),
    detail: z.string().optional(),
  }),
  errors: ["org_not_found", "forbidden"],
});
