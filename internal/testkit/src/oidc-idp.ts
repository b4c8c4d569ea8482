import type { Server } from "node:http";
import Provider from "oidc-provider";
import { freePort } from "./free-port.ts";

/** Claims the test identity provider hands out for a login name. */
export type TestAccountClaims = Record<string, unknown>;

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Adds or replaces the account a login name signs in as. */
  setAccount(login: string, claims: TestAccountClaims): void;
  close(): Promise<void>;
}

/**
 * A real OpenID Connect provider (the `oidc-provider` package) on loopback,
 * with its development login and consent pages, so tests sign in through the
 * same redirects and forms a person's browser goes through. Claims are
 * whatever the test sets, including malicious ones (B7).
 */
export async function startTestIdp(opts: { redirectUri: string }): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, TestAccountClaims>();
  const clientId = "boxyard-test";
  const clientSecret = "test-secret-not-for-production";
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [opts.redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
    claims: { email: ["email", "email_verified"], profile: ["preferred_username", "name"] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    findAccount: async (_ctx: unknown, id: string) => {
      // The account id is what was typed as "login"; the ID token's subject
      // is that same id (oidc-provider insists), so tests pick distinct logins.
      const claims = { ...(accounts.get(id) ?? {}), sub: id };
      return { accountId: id, claims: async () => claims };
    },
    cookies: { keys: ["test-cookie-key-0123456789abcdef"] },
  });
  provider.on("server_error", (_ctx: unknown, err: Error) => {
    process.stderr.write(`test IdP server_error: ${err.stack ?? err}\n`);
  });
  // The dev interactions identify the account by what was typed as "login".
  const server: Server = provider.listen(port);
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    issuer,
    clientId,
    clientSecret,
    setAccount: (login, claims) => accounts.set(login, claims),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
