import * as client from "openid-client";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** Where the IdP sends the browser back: PUBLIC_URL/auth/callback. */
  redirectUri: string;
  /** When set, only verified emails in exactly these domains may log in. */
  allowedDomains?: string[];
}

/** What Boxyard keeps of an OIDC login. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  /** True only for a boolean `true` claim: "true", 1 or absent are not verified (B7). */
  emailVerified: boolean;
  preferredUsername: string | null;
  name: string | null;
}

/** The per-login secrets kept (in a signed cookie) between redirect and callback. */
export interface PendingLogin {
  codeVerifier: string;
  state: string;
  nonce: string;
  returnTo: string;
}

export class OidcLoginError extends Error {
  readonly code: "oidc_failed" | "oidc_domain_not_allowed" | "oidc_email_unverified";
  constructor(code: OidcLoginError["code"], message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = "OidcLoginError";
    this.code = code;
  }
}

function isLoopback(url: URL): boolean {
  return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
}

/** Exact domain match on the part after the only '@' (so `corp.com@evil.com` and `evilcorp.com` fail). */
export function emailDomainAllowed(email: string, allowed: readonly string[]): boolean {
  const at = email.indexOf("@");
  if (at <= 0 || at !== email.lastIndexOf("@")) return false;
  const domain = email.slice(at + 1).toLowerCase();
  return allowed.some((d) => d.toLowerCase() === domain);
}

/** Authorization code flow with PKCE, state and nonce, via openid-client. */
export class OidcLogin {
  private constructor(
    private readonly config: client.Configuration,
    readonly settings: OidcSettings,
  ) {}

  static async discover(settings: OidcSettings): Promise<OidcLogin> {
    const issuer = new URL(settings.issuer);
    // Plain http is allowed only for an IdP on loopback (development, tests).
    const execute = issuer.protocol === "http:" && isLoopback(issuer) ? [client.allowInsecureRequests] : [];
    const config = await client.discovery(issuer, settings.clientId, settings.clientSecret, undefined, {
      execute,
    });
    return new OidcLogin(config, settings);
  }

  async start(returnTo: string): Promise<{ url: string; pending: PendingLogin }> {
    const codeVerifier = client.randomPKCECodeVerifier();
    const pending: PendingLogin = {
      codeVerifier,
      state: client.randomState(),
      nonce: client.randomNonce(),
      returnTo,
    };
    const url = client.buildAuthorizationUrl(this.config, {
      redirect_uri: this.settings.redirectUri,
      scope: "openid email profile",
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  async finish(callbackUrl: URL, pending: PendingLogin): Promise<OidcIdentity> {
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(this.config, callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw new OidcLoginError(
        "oidc_failed",
        `the identity provider's answer was not accepted: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new OidcLoginError("oidc_failed", "no ID token in the answer");
    // Some providers put only `sub` in the ID token and the rest behind the
    // userinfo endpoint; ask it (for the same subject) when email is missing.
    let claims: Record<string, unknown> & { iss: string; sub: string } = idClaims;
    if (idClaims.email === undefined) {
      try {
        const info = await client.fetchUserInfo(this.config, tokens.access_token, idClaims.sub);
        claims = { ...info, iss: idClaims.iss, sub: idClaims.sub };
      } catch {
        // No userinfo: carry on with what the ID token said.
      }
    }
    const email = typeof claims.email === "string" ? claims.email : null;
    const identity: OidcIdentity = {
      issuer: claims.iss,
      subject: claims.sub,
      email,
      emailVerified: claims.email_verified === true,
      preferredUsername: typeof claims.preferred_username === "string" ? claims.preferred_username : null,
      name: typeof claims.name === "string" ? claims.name : null,
    };
    const allowed = this.settings.allowedDomains ?? [];
    if (allowed.length > 0) {
      if (!identity.email || !identity.emailVerified) {
        throw new OidcLoginError(
          "oidc_email_unverified",
          "this server needs a verified email address from your identity provider",
        );
      }
      if (!emailDomainAllowed(identity.email, allowed)) {
        throw new OidcLoginError(
          "oidc_domain_not_allowed",
          "your email domain may not log in to this server",
        );
      }
    }
    return identity;
  }
}
