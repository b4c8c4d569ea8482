import { type Queryable, getActiveTokenWithUser, touchToken, type UserRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { Clock } from "@boxyard/platform";
import { parseToken, secretMatches } from "./tokens.ts";

/** Who is acting. Background loops act as named system actors. */
export type Actor =
  | { kind: "user"; user: UserRow; tokenId: string }
  | { kind: "system"; name: "reconciler" | "scheduler" | "agent" | "bootstrap" | "gateway" };

/** Resolves an `Authorization: Bearer ...` header to a user actor, or throws 401. */
export async function authenticateBearer(
  db: Queryable,
  header: string | undefined,
  clock: Clock,
): Promise<Actor & { kind: "user" }> {
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
  const found = await getActiveTokenWithUser(db, parsed.id);
  if (!found || !secretMatches(parsed.secret, found.token.secret_hash)) throw deny();
  if (found.token.expires_at.getTime() <= clock.now().getTime()) throw deny();
  await touchToken(db, found.token.id);
  return { kind: "user", user: found.user, tokenId: found.token.id };
}
