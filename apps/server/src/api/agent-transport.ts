// The HTTP side of the agent protocol: the same InProcessNodeLink the local
// agent uses, behind per-node token authentication.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import {
  agentBuildClaim,
  agentBuildUpdate,
  agentPrebuildClaim,
  agentPrebuildUpdate,
  agentCommandReply,
  agentCommands,
  agentDesired,
  agentHeartbeat,
  agentBoxSecrets,
  agentRegister,
  agentReport,
  NODE_TOKEN_HEADER,
} from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import { authorizedStore } from "@boxyard/authz";
import { UnknownBoxError } from "@boxyard/lifecycle";
import type pg from "pg";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";

function hash(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** Checks a request's node token: the node it belongs to, or the same 401 for anything else, so node ids are not probed. */
export function nodeAuthorizer(pool: pg.Pool) {
  return async function authorizeNode(nodeId: string, headers: Record<string, unknown>): Promise<void> {
    const given = headers[NODE_TOKEN_HEADER];
    const node =
      typeof given === "string"
        ? await authorizedStore(pool, { kind: "system", name: "agent" }).getNodeById(nodeId)
        : null;
    const ok =
      typeof given === "string" &&
      node?.token_hash != null &&
      node.token_hash.length === 32 &&
      timingSafeEqual(hash(given), node.token_hash);
    if (!ok)
      throw new DomainError("unauthorized", { detail: `send the node's token in ${NODE_TOKEN_HEADER}` });
  };
}

export function registerAgentTransportRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;
  const authorizeNode = nodeAuthorizer(deps.pool);

  r.add(agentRegister, async (ctx) => {
    if (!ctx.actor.user.site_admin)
      throw new DomainError("forbidden", { detail: "registering nodes needs a site admin" });
    const { nodeId } = await lc.link.register(ctx.body);
    // A new token on every registration: a restarted agent registers again and the old token stops working.
    const nodeToken = `byn_${randomBytes(32).toString("base64url")}`;
    await authorizedStore(deps.pool, ctx.actor).setNodeTokenHash(nodeId, hash(nodeToken));
    return { nodeId, nodeToken };
  });

  r.add(agentHeartbeat, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    await lc.link.heartbeat(ctx.params.node, ctx.body);
    return null;
  });

  r.add(agentDesired, async (ctx, reply) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    const abort = new AbortController();
    reply.raw.on("close", () => abort.abort());
    return lc.link.fetchDesired(ctx.params.node, ctx.query.since, {
      waitMs: ctx.query.waitMs,
      signal: abort.signal,
    });
  });

  r.add(agentReport, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    return lc.link.report(ctx.params.node, ctx.body.reports);
  });

  r.add(agentCommands, async (ctx, reply) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    const abort = new AbortController();
    reply.raw.on("close", () => abort.abort());
    return {
      commands: await lc.link.fetchCommands(ctx.params.node, {
        waitMs: ctx.query.waitMs,
        signal: abort.signal,
      }),
    };
  });

  r.add(agentCommandReply, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    await lc.link.replyCommand(ctx.params.node, ctx.params.command, ctx.body);
    return null;
  });

  r.add(agentBuildClaim, async (ctx, reply) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    const abort = new AbortController();
    reply.raw.on("close", () => abort.abort());
    return {
      build: await lc.link.claimBuild(ctx.params.node, { waitMs: ctx.query.waitMs, signal: abort.signal }),
    };
  });

  r.add(agentBoxSecrets, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    try {
      return await lc.link.fetchBoxSecrets(ctx.params.node, ctx.params.box);
    } catch (err) {
      if (err instanceof UnknownBoxError) throw new DomainError("box_not_found", { detail: ctx.params.box });
      throw err;
    }
  });

  r.add(agentPrebuildClaim, async (ctx, reply) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    const abort = new AbortController();
    reply.raw.on("close", () => abort.abort());
    return {
      prebuild: await lc.link.claimPrebuild(ctx.params.node, {
        waitMs: ctx.query.waitMs,
        signal: abort.signal,
      }),
    };
  });

  r.add(agentPrebuildUpdate, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    return { accepted: await lc.link.updatePrebuild(ctx.params.node, ctx.params.prebuild, ctx.body) };
  });

  r.add(agentBuildUpdate, async (ctx) => {
    await authorizeNode(ctx.params.node, ctx.headers);
    return { accepted: await lc.link.updateBuild(ctx.params.node, ctx.params.build, ctx.body) };
  });
}
