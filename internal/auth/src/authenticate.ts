import { authorizedStore } from "@boxyard/authz";
import type { Queryable, UserRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { Clock } from "@boxyard/platform";
import { timingSafeEqual } from "node:crypto";
import { authenticateSessionCookie, CSRF_HEADER, readCookie, SESSION_COOKIE } from "./sessions.ts";
import { parseToken, secretMatches } from "./tokens.ts";

export type UserActor = Actor & { kind: "user" };

/**
 * The named system actors: each background loop or trust boundary that
 * touches the database without a user behind it. The authorized store
 * (@boxyard/authz) grants each only the queries it needs.
 */
export const SYSTEM_ACTORS = [
  "reconciler",
  "scheduler",
  "agent",
  "bootstrap",
  "gateway",
  "authenticator",
  "pool-manager",
  "metrics",
  "janitor",
] as const;
export type SystemActorName = (typeof SYSTEM_ACTORS)[number];

/** Who is acting. Background loops act as named system actors. */
export type Actor =
  | { kind: "user"; user: UserRow; tokenId?: string; sessionId?: string }
  | { kind: "system"; name: SystemActorName };

/** How often a token's last use is recorded (the update's own condition says a minute too). */
const TOKEN_TOUCH_MS = 60_000;

/** Resolves an `Authorization: Bearer ...` header to a user actor, or throws 401. */
export async function authenticateBearer(
  db: Queryable,
  header: string | undefined,
  clock: Clock,
): Promise<UserActor> {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  const parsed = m ? parseToken(m[1]!) : null;
  // One answer for every failure, so the response is no oracle for which
  // tokens exist.
  const deny = () =>
    new DomainError("unauthorized", {
      detail: "send a valid API token as 'Authorization: Bearer <token>'",
      headers: { "www-authenticate": 'Bearer realm="boxyard"' },
    });
  if (!parsed) throw deny();
  // Before there is a user to act as, the authenticator reads the token.
  const store = authorizedStore(db, { kind: "system", name: "authenticator" });
  const found = await store.getActiveTokenWithUser(parsed.id);
  if (!found || !secretMatches(parsed.secret, found.token.secret_hash)) throw deny();
  if (found.token.expires_at.getTime() <= clock.now().getTime()) throw deny();
  // Use is recorded at most once a minute (touchToken's own condition); the row
  // just read says when it last was, so within that minute no statement is sent.
  const lastUsed = found.token.last_used_at;
  if (!lastUsed || clock.now().getTime() - lastUsed.getTime() >= TOKEN_TOUCH_MS)
    await store.touchToken(found.token.id);
  return { kind: "user", user: found.user, tokenId: found.token.id };
}

/**
 * Authenticates an API request: a bearer token, or else a browser session
 * cookie. A cookie-authenticated request that changes state must also carry
 * the session's CSRF token in a header (double submit): a cross-site form
 * can send the cookie but cannot read or set the header.
 */
export async function authenticateRequest(
  db: Queryable,
  req: { method: string; headers: Record<string, string | string[] | undefined> },
  clock: Clock,
): Promise<UserActor> {
  const authz = req.headers.authorization;
  if (typeof authz === "string" && authz !== "") return authenticateBearer(db, authz, clock);
  const cookieHeader = typeof req.headers.cookie === "string" ? req.headers.cookie : undefined;
  const session = await authenticateSessionCookie(db, readCookie(cookieHeader, SESSION_COOKIE));
  if (!session) return authenticateBearer(db, undefined, clock);
  if (!["GET", "HEAD", "OPTIONS"].includes(req.method)) {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== "string" || !safeEqual(sent, session.csrfToken)) {
      throw new DomainError("csrf_failed", {
        detail: `send the session's CSRF token in the ${CSRF_HEADER} header`,
      });
    }
  }
  return { kind: "user", user: session.user, sessionId: session.sessionId };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
