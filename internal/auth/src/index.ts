export {
  type Actor,
  authenticateBearer,
  authenticateRequest,
  SYSTEM_ACTORS,
  type SystemActorName,
  type UserActor,
} from "./authenticate.ts";
export { hashSecret, type MintedToken, mintToken, parseToken, secretMatches } from "./tokens.ts";
export { type TicketClaims, TicketSigner } from "./tickets.ts";
export {
  emailDomainAllowed,
  OidcLogin,
  OidcLoginError,
  type OidcIdentity,
  type OidcSettings,
  type PendingLogin,
} from "./oidc.ts";
export { resolveOidcUser, usernameCandidate } from "./oidc-users.ts";
export {
  authenticateSessionCookie,
  CSRF_COOKIE,
  CSRF_HEADER,
  type MintedSession,
  mintSession,
  readCookie,
  SESSION_COOKIE,
  SESSION_LIFETIME_MS,
} from "./sessions.ts";
