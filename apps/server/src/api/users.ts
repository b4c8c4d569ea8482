import { mintToken } from "@boxyard/auth";
import {
  createMyToken,
  createUser,
  createUserToken,
  deleteUser,
  getMe,
  listMyTokens,
  revokeMyToken,
  suspendUser,
  unsuspendUser,
} from "@boxyard/contract";
import { inTx, type TokenRow, type UserRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { RequestContext } from "../http/context.ts";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

const DEFAULT_TOKEN_LIFETIME_S = 30 * 24 * 3600;

export function userView(u: UserRow) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    siteAdmin: u.site_admin,
    createdAt: u.created_at.toISOString(),
    suspendedAt: u.suspended_at?.toISOString() ?? null,
  };
}

export function tokenView(t: TokenRow) {
  return {
    id: t.id,
    name: t.name,
    createdAt: t.created_at.toISOString(),
    expiresAt: t.expires_at.toISOString(),
    lastUsedAt: t.last_used_at?.toISOString() ?? null,
  };
}

function requireSiteAdmin(ctx: RequestContext<unknown, unknown, unknown>, action: string): void {
  if (!ctx.actor.user.site_admin) {
    throw new DomainError("forbidden", {
      detail: "this needs the site admin role",
      audit: { orgId: null, action },
    });
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "23505";
}

export function registerUserRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  const issueToken = async (
    ctx: RequestContext<unknown, unknown, unknown>,
    user: { id: string; username: string },
    body: { name: string; expiresIn?: number | undefined },
  ) => {
    const minted = mintToken();
    const now = deps.clock.now();
    const expiresAt = new Date(now.getTime() + (body.expiresIn ?? DEFAULT_TOKEN_LIFETIME_S) * 1000);
    const row = await inTx(deps.pool, async (tx) => {
      const t = await storeFor(deps, ctx.actor, ctx.signal).on(tx).insertToken({
        id: minted.id,
        userId: user.id,
        name: body.name,
        secretHash: minted.secretHash,
        expiresAt,
      });
      // The secret is never in the audit log: only which token, for whom.
      await auditFor(tx, ctx, {
        orgId: null,
        action: "token.create",
        target: { kind: "token", id: t.id, name: t.name },
        result: "success",
        details: { forUser: user.username, expiresAt: expiresAt.toISOString() },
        at: now,
      });
      return t;
    });
    return { ...tokenView(row), token: minted.token };
  };

  r.add(getMe, async (ctx) => userView(ctx.actor.user));

  r.add(listMyTokens, async (ctx) => ({
    items: (await storeFor(deps, ctx.actor, ctx.signal).listTokensByUser(ctx.actor.user.id)).map(tokenView),
  }));

  r.add(createMyToken, async (ctx) => issueToken(ctx, ctx.actor.user, ctx.body));

  r.add(revokeMyToken, async (ctx) => {
    await inTx(deps.pool, async (tx) => {
      if (
        !(await storeFor(deps, ctx.actor, ctx.signal)
          .on(tx)
          .revokeToken(ctx.actor.user.id, ctx.params.tokenId))
      )
        throw new DomainError("token_not_found");
      await auditFor(tx, ctx, {
        orgId: null,
        action: "token.revoke",
        target: { kind: "token", id: ctx.params.tokenId },
        result: "success",
        at: deps.clock.now(),
      });
    });
    return null;
  });

  r.add(createUser, async (ctx) => {
    requireSiteAdmin(ctx, "user.create");
    try {
      const row = await inTx(deps.pool, async (tx) => {
        const u = await storeFor(deps, ctx.actor, ctx.signal)
          .on(tx)
          .insertUser({
            id: deps.ids.newId("usr"),
            username: ctx.body.username,
            email: ctx.body.email ?? null,
            siteAdmin: ctx.body.siteAdmin ?? false,
          });
        await auditFor(tx, ctx, {
          orgId: null,
          action: "user.create",
          target: { kind: "user", id: u.id, name: u.username },
          result: "success",
          details: { siteAdmin: u.site_admin, email: u.email ? "set" : "unset" },
          at: deps.clock.now(),
        });
        return u;
      });
      return userView(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("user_exists", { detail: ctx.body.username });
      throw err;
    }
  });

  r.add(createUserToken, async (ctx) => {
    requireSiteAdmin(ctx, "token.create");
    const user = await storeFor(deps, ctx.actor, ctx.signal).getLiveUserByUsername(ctx.params.username);
    if (!user) throw new DomainError("user_not_found", { detail: ctx.params.username });
    return issueToken(ctx, user, ctx.body);
  });

  /** The user a site admin acts on; never the caller (a site admin cannot lock themself out). */
  const targetUser = async (ctx: RequestContext<{ username: string }, unknown, unknown>, action: string) => {
    requireSiteAdmin(ctx, action);
    const user = await storeFor(deps, ctx.actor, ctx.signal).getLiveUserByUsername(ctx.params.username);
    if (!user) throw new DomainError("user_not_found", { detail: ctx.params.username });
    if (user.id === ctx.actor.user.id)
      throw new DomainError("validation_failed", { detail: "you cannot suspend or delete yourself" });
    return user;
  };

  for (const [route, how] of [
    [suspendUser, "suspend"],
    [deleteUser, "delete"],
  ] as const) {
    r.add(route, async (ctx) => {
      const user = await targetUser(ctx, `user.${how}`);
      const row = await inTx(deps.pool, async (tx) => {
        const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
        const cut = await store.disableUser(user.id, how);
        await auditFor(tx, ctx, {
          orgId: null,
          action: `user.${how}`,
          target: { kind: "user", id: user.id, name: user.username },
          result: "success",
          details: { revokedTokens: cut.tokens, revokedSessions: cut.sessions, removedSshKeys: cut.sshKeys },
          at: deps.clock.now(),
        });
        return store.getUserById(user.id);
      });
      deps.logger.info({ user: user.username, how }, "user cut off");
      return (how === "delete" ? null : userView(row!)) as never;
    });
  }

  r.add(unsuspendUser, async (ctx) => {
    const user = await targetUser(ctx, "user.unsuspend");
    const row = await inTx(deps.pool, async (tx) => {
      const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
      await store.unsuspendUser(user.id);
      await auditFor(tx, ctx, {
        orgId: null,
        action: "user.unsuspend",
        target: { kind: "user", id: user.id, name: user.username },
        result: "success",
        at: deps.clock.now(),
      });
      return store.getUserById(user.id);
    });
    return userView(row!);
  });
}
