import {
  authenticateSessionCookie,
  CSRF_COOKIE,
  mintSession,
  type OidcLogin,
  OidcLoginError,
  type PendingLogin,
  readCookie,
  resolveOidcUser,
  SESSION_COOKIE,
  SESSION_LIFETIME_MS,
  type TicketSigner,
} from "@boxyard/auth";
import { authorizedStore } from "@boxyard/authz";
import { inTx } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ApiDeps } from "../http/context.ts";
import { userView } from "./users.ts";

const PENDING_COOKIE = "boxyard_oidc";
const PENDING_AUDIENCE = "oidc-login";
const PENDING_TTL_S = 600;

export interface AuthRouteOptions {
  deps: ApiDeps;
  signer: TicketSigner;
  /** Absent when no identity provider is configured: /auth/login answers 404. */
  oidc?: OidcLogin;
  /** The externally visible base URL (for the callback URL and the Secure flag). */
  publicUrl: string;
}

function cookie(
  name: string,
  value: string,
  opts: { maxAgeS: number; path?: string; httpOnly?: boolean; secure: boolean },
) {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${opts.path ?? "/"}`,
    `Max-Age=${opts.maxAgeS}`,
    "SameSite=Lax",
    ...(opts.httpOnly === false ? [] : ["HttpOnly"]),
    ...(opts.secure ? ["Secure"] : []),
  ].join("; ");
}

/** Only local paths: an open redirect after login would hand the session to a phishing page. */
function safeReturnTo(v: unknown): string {
  return typeof v === "string" && v.startsWith("/") && !v.startsWith("//") && !v.includes("\\") ? v : "/";
}

/**
 * Browser sign-in: /auth/login sends the browser to the identity provider
 * (authorization code + PKCE), /auth/callback turns the answer into a user
 * and an httpOnly session cookie, /auth/session tells the page who it is and
 * its CSRF token, /auth/logout ends the session.
 */
export function registerAuthRoutes(app: FastifyInstance, opts: AuthRouteOptions): void {
  const { deps, signer, oidc } = opts;
  const secure = opts.publicUrl.startsWith("https://");

  app.get<{ Querystring: { returnTo?: string } }>("/auth/login", async (req, reply: FastifyReply) => {
    if (!oidc) throw new DomainError("oidc_not_configured", { detail: "sign in with an API token instead" });
    const { url, pending } = await oidc.start(safeReturnTo(req.query.returnTo));
    const exp = Math.floor(deps.clock.now().getTime() / 1000) + PENDING_TTL_S;
    reply.header(
      "set-cookie",
      cookie(PENDING_COOKIE, signer.signPayload({ aud: PENDING_AUDIENCE, exp, ...pending }), {
        maxAgeS: PENDING_TTL_S,
        path: "/auth",
        secure,
      }),
    );
    return reply.redirect(url, 302);
  });

  app.get("/auth/callback", async (req, reply) => {
    if (!oidc) throw new DomainError("oidc_not_configured");
    const raw = readCookie(req.headers.cookie, PENDING_COOKIE) ?? "";
    const pending = signer.verifyPayload<PendingLogin & { aud: string; exp: number }>(raw, PENDING_AUDIENCE);
    if (!pending)
      throw new DomainError("login_failed", {
        detail: "the login took too long or was not started here; try again",
      });
    const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
    let identity: Awaited<ReturnType<OidcLogin["finish"]>>;
    try {
      identity = await oidc.finish(new URL(`${opts.publicUrl}/auth/callback${query}`), pending);
    } catch (err) {
      if (err instanceof OidcLoginError) throw new DomainError("login_failed", { detail: err.message });
      throw err;
    }
    const session = mintSession();
    const user = await inTx(deps.pool, async (tx) => {
      const u = await resolveOidcUser(tx, identity, deps.ids);
      await authorizedStore(tx, { kind: "user", user: u }).insertSession({
        id: session.id,
        userId: u.id,
        secretHash: session.secretHash,
        csrfToken: session.csrfToken,
        expiresAt: new Date(deps.clock.now().getTime() + SESSION_LIFETIME_MS),
      });
      return u;
    });
    req.log.info({ user: user.username, issuer: identity.issuer }, "browser sign-in");
    const maxAgeS = Math.floor(SESSION_LIFETIME_MS / 1000);
    reply.header("set-cookie", [
      cookie(SESSION_COOKIE, session.cookie, { maxAgeS, secure }),
      cookie(CSRF_COOKIE, session.csrfToken, { maxAgeS, secure, httpOnly: false }),
      cookie(PENDING_COOKIE, "", { maxAgeS: 0, path: "/auth", secure }),
    ]);
    return reply.redirect(pending.returnTo, 302);
  });

  app.get("/auth/session", async (req) => {
    const s = await authenticateSessionCookie(deps.pool, readCookie(req.headers.cookie, SESSION_COOKIE));
    if (!s) throw new DomainError("unauthorized", { detail: "not signed in" });
    return { user: userView(s.user), csrfToken: s.csrfToken };
  });

  app.post("/auth/logout", async (req, reply) => {
    const s = await authenticateSessionCookie(deps.pool, readCookie(req.headers.cookie, SESSION_COOKIE));
    if (s) {
      if (req.headers["x-csrf-token"] !== s.csrfToken) throw new DomainError("csrf_failed");
      await authorizedStore(deps.pool, { kind: "user", user: s.user, sessionId: s.sessionId }).revokeSession(
        s.sessionId,
      );
    }
    reply.header("set-cookie", [
      cookie(SESSION_COOKIE, "", { maxAgeS: 0, secure }),
      cookie(CSRF_COOKIE, "", { maxAgeS: 0, secure, httpOnly: false }),
    ]);
    return reply.code(204).send();
  });
}
