import { randomBytes } from "node:crypto";
import { authorizedStore } from "@boxyard/authz";
import type { Queryable, UserRow } from "@boxyard/db";
import { newId } from "@boxyard/platform";
import { hashSecret, secretMatches } from "./tokens.ts";

export const SESSION_COOKIE = "boxyard_session";
export const CSRF_COOKIE = "boxyard_csrf";
export const CSRF_HEADER = "x-csrf-token";
export const SESSION_LIFETIME_MS = 12 * 3600 * 1000;

export interface MintedSession {
  id: string;
  /** The cookie value: `<id>.<secret>`. */
  cookie: string;
  secretHash: Buffer;
  csrfToken: string;
}

export function mintSession(): MintedSession {
  const id = newId("sess");
  const secret = randomBytes(32).toString("base64url");
  return {
    id,
    cookie: `${id}.${secret}`,
    secretHash: hashSecret(secret),
    csrfToken: randomBytes(24).toString("base64url"),
  };
}

/** Resolves the session cookie; null for anything missing, malformed, expired, revoked or forged. */
export async function authenticateSessionCookie(
  db: Queryable,
  cookie: string | undefined,
): Promise<{ user: UserRow; sessionId: string; csrfToken: string } | null> {
  const m = cookie ? /^(sess_[0-9a-z]{20})\.([A-Za-z0-9_-]{43})$/.exec(cookie) : null;
  if (!m) return null;
  const found = await authorizedStore(db, { kind: "system", name: "authenticator" }).getActiveSessionWithUser(
    m[1]!,
  );
  if (!found || !secretMatches(m[2]!, found.session.secret_hash)) return null;
  return { user: found.user, sessionId: found.session.id, csrfToken: found.session.csrf_token };
}

/** Reads one cookie from a Cookie header without a dependency. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}
