import { mintToken } from "@boxyard/auth";
import {
  createMyToken,
  createUser,
  createUserToken,
  getMe,
  listMyTokens,
  revokeMyToken,
} from "@boxyard/contract";
import {
  getLiveUserByUsername,
  insertToken,
  insertUser,
  listTokensByUser,
  revokeToken,
  type TokenRow,
  type UserRow,
} from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { RequestContext } from "../http/context.ts";
import type { RouteRegistrar } from "./registrar.ts";

const DEFAULT_TOKEN_LIFETIME_S = 30 * 24 * 3600;

export function userView(u: UserRow) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    siteAdmin: u.site_admin,
    createdAt: u.created_at.toISOString(),
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

function requireSiteAdmin(ctx: RequestContext<unknown, unknown, unknown>): void {
  if (!ctx.actor.user.site_admin)
    throw new DomainError("forbidden", { detail: "this needs the site admin role" });
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "23505";
}

export function registerUserRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  const issueToken = async (userId: string, body: { name: string; expiresIn?: number | undefined }) => {
    const minted = mintToken();
    const expiresAt = new Date(
      deps.clock.now().getTime() + (body.expiresIn ?? DEFAULT_TOKEN_LIFETIME_S) * 1000,
    );
    const row = await insertToken(deps.pool, {
      id: minted.id,
      userId,
      name: body.name,
      secretHash: minted.secretHash,
      expiresAt,
    });
    return { ...tokenView(row), token: minted.token };
  };

  r.add(getMe, async (ctx) => userView(ctx.actor.user));

  r.add(listMyTokens, async (ctx) => ({
    items: (await listTokensByUser(deps.pool, ctx.actor.user.id)).map(tokenView),
  }));

  r.add(createMyToken, async (ctx) => issueToken(ctx.actor.user.id, ctx.body));

  r.add(revokeMyToken, async (ctx) => {
    if (!(await revokeToken(deps.pool, ctx.actor.user.id, ctx.params.tokenId)))
      throw new DomainError("token_not_found");
    return null;
  });

  r.add(createUser, async (ctx) => {
    requireSiteAdmin(ctx);
    try {
      const row = await insertUser(deps.pool, {
        id: deps.ids.newId("usr"),
        username: ctx.body.username,
        email: ctx.body.email ?? null,
        siteAdmin: ctx.body.siteAdmin ?? false,
      });
      return userView(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("user_exists", { detail: ctx.body.username });
      throw err;
    }
  });

  r.add(createUserToken, async (ctx) => {
    requireSiteAdmin(ctx);
    const user = await getLiveUserByUsername(deps.pool, ctx.params.username);
    if (!user) throw new DomainError("user_not_found", { detail: ctx.params.username });
    return issueToken(user.id, ctx.body);
  });
}
