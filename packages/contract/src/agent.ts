// The node-agent transport over HTTP, for agents in other processes. The
// bodies are the agent-protocol schemas; registration needs a site admin's
// API token and returns a per-node token that authenticates the rest
// (header x-boxyard-node-token).

import {
  BoxReport,
  DesiredSet,
  Heartbeat,
  NodeCommandList,
  NodeCommandResult,
  NodeRegistration,
} from "@boxyard/agent-protocol";
import { z } from "zod";
import { defineRoute } from "./route.ts";

export const NODE_TOKEN_HEADER = "x-boxyard-node-token";
const NodeParams = z.strictObject({ node: z.string().regex(/^node_[0-9a-z]{20}$/) });

export const agentRegister = defineRoute({
  operationId: "agentRegister",
  method: "POST",
  path: "/api/v1/agent/register",
  summary: "(site admin) Register a node agent; returns its node id and node token",
  tags: ["agent"],
  auth: "token",
  body: NodeRegistration,
  successStatus: 200,
  response: z.object({ nodeId: z.string(), nodeToken: z.string() }),
  errors: ["forbidden"],
});

export const agentHeartbeat = defineRoute({
  operationId: "agentHeartbeat",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/heartbeat",
  summary: "Node heartbeat (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  body: Heartbeat,
  successStatus: 204,
  response: z.null(),
  errors: ["unauthorized"],
});

export const agentDesired = defineRoute({
  operationId: "agentDesired",
  method: "GET",
  path: "/api/v1/agent/nodes/:node/desired",
  summary: "The node's desired set; long-polls up to waitMs for a version newer than since (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  query: z.strictObject({
    since: z.coerce.number().int().min(0).default(0),
    waitMs: z.coerce.number().int().min(0).max(60_000).default(0),
  }),
  successStatus: 200,
  response: DesiredSet,
  errors: ["unauthorized"],
});

export const agentReport = defineRoute({
  operationId: "agentReport",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/reports",
  summary: "Observed box phases (node token); stale reports are dropped",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  body: z.strictObject({ reports: z.array(BoxReport).max(1000) }),
  successStatus: 200,
  response: z.object({ accepted: z.int() }),
  errors: ["unauthorized"],
});

export const agentCommands = defineRoute({
  operationId: "agentCommands",
  method: "GET",
  path: "/api/v1/agent/nodes/:node/commands",
  summary:
    "Calls waiting for the node's agent (exec), claimed by this poll; long-polls up to waitMs (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams,
  query: z.strictObject({ waitMs: z.coerce.number().int().min(0).max(60_000).default(0) }),
  successStatus: 200,
  response: NodeCommandList,
  errors: ["unauthorized"],
});

export const agentCommandReply = defineRoute({
  operationId: "agentCommandReply",
  method: "POST",
  path: "/api/v1/agent/nodes/:node/commands/:command/reply",
  summary: "The agent's answer to a claimed call (node token)",
  tags: ["agent"],
  auth: "none",
  params: NodeParams.extend({ command: z.string().regex(/^cmd_[0-9a-z]{20}$/) }),
  body: NodeCommandResult,
  successStatus: 204,
  response: z.null(),
  errors: ["unauthorized"],
});
