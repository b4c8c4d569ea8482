// The gateway transport, for gateways in their own processes (`boxyard
// server --role gateway`). A gateway registers with a site admin's API token
// and gets a per-gateway token (header x-boxyard-gateway-token) for the rest:
// the login lookups it caches (so logins keep working through a control-plane
// outage), wake on connect, and the session audit events it buffers while the
// control plane is away.

import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const GATEWAY_TOKEN_HEADER = "x-boxyard-gateway-token";
const GatewayParams = z.strictObject({ gateway: z.string().regex(/^gw_[0-9a-z]{20}$/) });

export const GatewayUser = z
  .object({ userId: Id, username: z.string(), keyId: Id })
  .meta({ id: "GatewayUser" });

export const GatewayBoxRoute = z
  .object({
    boxId: Id,
    orgId: Id,
    boxName: Name,
    orgName: Name,
    nodeId: Id.nullable(),
    actualState: z.string(),
    desiredState: z.string(),
    lastError: z.string().nullable().optional(),
  })
  .meta({ id: "GatewayBoxRoute" });

export const GatewaySessionEvent = z.strictObject({
  action: z.enum(["box.session.open", "box.session.close", "box.terminal.open", "box.terminal.close"]),
  at: Timestamp,
  userId: Id,
  username: z.string().max(100).optional(),
  orgId: Id,
  boxId: Id,
  boxName: Name.optional(),
  details: z.record(z.string(), z.union([z.string().max(200), z.number(), z.boolean(), z.null()])),
});

export const gatewayRegister = defineRoute({
  operationId: "gatewayRegister",
  method: "POST",
  path: "/api/v1/gateway/register",
  summary:
    "(site admin) Register a gateway; returns its id, its token and what it needs to verify browser terminal tickets",
  tags: ["gateway"],
  auth: "token",
  body: z.strictObject({
    name: Name,
    httpUrl: z.url({ protocol: /^https?$/ }),
    sshHost: z.string().min(1).max(253),
    sshPort: z.int().min(1).max(65535),
    hostKey: z
      .string()
      .max(1000)
      .regex(/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$/, "must be an OpenSSH public key"),
  }),
  successStatus: 200,
  response: z.object({
    gatewayId: z.string(),
    gatewayToken: z.string(),
    /** HMAC key of browser terminal tickets (base64). */
    ticketKey: z.string(),
    /** Origins whose pages may open terminals on the gateway (the control plane's public URL). */
    allowedOrigins: z.array(z.string()),
  }),
  errors: ["forbidden"],
});

export const gatewayLookupKey = defineRoute({
  operationId: "gatewayLookupKey",
  method: "POST",
  path: "/api/v1/gateway/gateways/:gateway/lookup-key",
  summary: "The active user owning an SSH key fingerprint, or null (gateway token)",
  tags: ["gateway"],
  auth: "none",
  params: GatewayParams,
  body: z.strictObject({ fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/) }),
  successStatus: 200,
  response: z.object({ user: GatewayUser.nullable() }),
  errors: ["unauthorized"],
});

export const gatewayLookupBox = defineRoute({
  operationId: "gatewayLookupBox",
  method: "POST",
  path: "/api/v1/gateway/gateways/:gateway/lookup-box",
  summary: "Where a box the user may connect to lives, or null (gateway token)",
  tags: ["gateway"],
  auth: "none",
  params: GatewayParams,
  body: z.strictObject({ userId: Id, box: Name, org: Name.optional() }),
  successStatus: 200,
  response: z.object({ route: GatewayBoxRoute.nullable() }),
  errors: ["unauthorized"],
});

export const gatewayWake = defineRoute({
  operationId: "gatewayWake",
  method: "POST",
  path: "/api/v1/gateway/gateways/:gateway/wake",
  summary: "Resume a paused box for a connecting user (wake on connect; quota and audit as for resume)",
  tags: ["gateway"],
  auth: "none",
  params: GatewayParams,
  body: z.strictObject({ userId: Id, boxId: Id }),
  successStatus: 202,
  response: z.object({ route: GatewayBoxRoute }),
  errors: ["unauthorized", "box_not_found", "quota_exceeded", "invalid_transition"],
});

export const gatewayEvents = defineRoute({
  operationId: "gatewayEvents",
  method: "POST",
  path: "/api/v1/gateway/gateways/:gateway/events",
  summary: "Session open/close events for the audit log; also the gateway's heartbeat (gateway token)",
  tags: ["gateway"],
  auth: "none",
  params: GatewayParams,
  body: z.strictObject({ events: z.array(GatewaySessionEvent).max(1000) }),
  successStatus: 200,
  response: z.object({ accepted: z.int() }),
  errors: ["unauthorized"],
});
