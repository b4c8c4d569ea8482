import { authorizedStore } from "@boxyard/authz";
import type { Queryable, UserRow } from "@boxyard/db";
import type { IdGen } from "@boxyard/platform";
import type { OidcIdentity } from "./oidc.ts";

/** A DNS-label user name from what the IdP offers: `Jane.Doe@corp.com` -> `jane-doe`. */
export function usernameCandidate(identity: OidcIdentity): string {
  const raw = identity.preferredUsername ?? identity.email?.split("@")[0] ?? identity.name ?? "user";
  const cleaned = raw
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 50);
  return cleaned || "user";
}

/**
 * Finds or creates the Boxyard user for an OIDC identity. Users are keyed by
 * (issuer, subject). An email links a new identity to an existing user only
 * when the IdP says it is verified and that user has no identity yet (an
 * invitation made by an admin); an unverified email, or one that belongs to a
 * user who already logged in some other way, never links (B7).
 * Call inside a transaction. Runs as the authenticator: there is no user yet.
 */
export async function resolveOidcUser(db: Queryable, identity: OidcIdentity, ids: IdGen): Promise<UserRow> {
  const tx = authorizedStore(db, { kind: "system", name: "authenticator" });
  const existing = await tx.getUserByIdentity(identity.issuer, identity.subject);
  if (existing) {
    await tx.touchIdentity(identity.issuer, identity.subject);
    return existing;
  }
  let user: UserRow | null = null;
  if (identity.email && identity.emailVerified) user = await tx.getUnlinkedUserByEmail(identity.email);
  if (!user) {
    const base = usernameCandidate(identity);
    let name = base;
    for (let n = 2; await tx.getLiveUserByUsername(name); n++) name = `${base}-${n}`;
    user = await tx.insertUser({
      id: ids.newId("usr"),
      username: name,
      email: identity.emailVerified ? identity.email : null,
    });
  }
  await tx.insertIdentity({
    issuer: identity.issuer,
    subject: identity.subject,
    userId: user.id,
    email: identity.email,
  });
  return user;
}
