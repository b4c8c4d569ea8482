import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const createTerminalTicket = defineRoute({
  operationId: "createTerminalTicket",
  method: "POST",
  path: "/api/v1/orgs/:org/boxes/:box/terminal-ticket",
  summary:
    "A short-lived signed ticket for opening the browser terminal's WebSocket (GET .../terminal/ws?ticket=...)",
  tags: ["boxes"],
  auth: "token",
  params: z.strictObject({ org: Name, box: Name }),
  successStatus: 201,
  response: z.object({
    ticket: z.string(),
    expiresAt: Timestamp,
    websocketPath: z.string(),
    /** Absolute ws(s):// URL when terminals are served by a separate gateway; else use websocketPath on this origin. */
    websocketUrl: z.string().nullable(),
  }),
  errors: ["org_not_found", "box_not_found", "forbidden"],
});
