// `boxyard login URL` in a browser (like `gh auth login --web`): the CLI
// listens on a loopback port and opens /auth/cli; a person signed in to
// Boxyard (through OIDC) approves on a page here; the browser is sent back to
// the CLI's loopback port with a short-lived one-time code, which only the
// CLI can exchange for an API token because it alone knows the PKCE verifier.

import { createHash, timingSafeEqual } from "node:crypto";
import {
  authenticateSessionCookie,
  mintToken,
  readCookie,
  SESSION_COOKIE,
  type TicketSigner,
} from "@boxyard/auth";
import { recordAudit } from "@boxyard/audit";
import { authorizedStore } from "@boxyard/authz";
import { inTx } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { FastifyInstance } from "fastify";
import type { ApiDeps } from "../http/context.ts";

const CODE_AUDIENCE = "cli-login";
const CODE_TTL_S = 120;
const TOKEN_LIFETIME_S = 30 * 24 * 3600;
const STATE = /^[A-Za-z0-9_-]{16,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const CLIENT = /^[A-Za-z0-9 ._-]{1,60}$/;

interface CliRequest {
  port: number;
  state: string;
  challenge: string;
  client: string;
}

function readRequest(q: Record<string, unknown>): CliRequest {
  const port = Number(q.port);
  const state = String(q.state ?? "");
  const challenge = String(q.challenge ?? "");
  const client = String(q.client ?? "boxyard CLI");
  if (
    !Number.isInteger(port) ||
    port < 1024 ||
    port > 65535 ||
    !STATE.test(state) ||
    !CHALLENGE.test(challenge)
  )
    throw new DomainError("validation_failed", {
      detail: "this link is not a Boxyard CLI login; run `boxyard login URL` again",
    });
  return { port, state, challenge, client: CLIENT.test(client) ? client : "boxyard CLI" };
}

const html = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${html(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1rem;padding:.5rem 1.25rem}</style></head><body>${body}</body></html>`;
}

// The approval form redirects to the CLI's loopback port, which form-action must allow.
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'";

export function registerCliLoginRoutes(
  app: FastifyInstance,
  o: { deps: ApiDeps; signer: TicketSigner },
): void {
  const { deps, signer } = o;

  app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );

    // The approval page; a person not signed in goes through sign-in first and comes back.
    scope.get<{ Querystring: Record<string, string> }>("/auth/cli", async (req, reply) => {
      const r = readRequest(req.query);
      const session = await authenticateSessionCookie(
        deps.pool,
        readCookie(req.headers.cookie, SESSION_COOKIE),
      );
      if (!session) {
        const back = `/auth/cli?${new URLSearchParams({ port: String(r.port), state: r.state, challenge: r.challenge, client: r.client })}`;
        return reply.redirect(`/auth/login?returnTo=${encodeURIComponent(back)}`, 302);
      }
      return reply
        .type("text/html; charset=utf-8")
        .header("content-security-policy", CSP)
        .header("x-frame-options", "DENY")
        .header("cache-control", "no-store")
        .send(
          page(
            "Authorize the Boxyard CLI",
            `<h1>Authorize the Boxyard CLI?</h1>
<p><strong>${html(r.client)}</strong> on this computer asks to act as <strong>${html(session.user.username)}</strong>
with a new API token (valid 30 days; revoke it any time with <code>boxyard</code> or the API).</p>
<p>Only approve if you just ran <code>boxyard login</code> yourself.</p>
<form method="post" action="/auth/cli/approve">
<input type="hidden" name="port" value="${r.port}"><input type="hidden" name="state" value="${html(r.state)}">
<input type="hidden" name="challenge" value="${html(r.challenge)}"><input type="hidden" name="client" value="${html(r.client)}">
<input type="hidden" name="csrf" value="${html(session.csrfToken)}">
<button type="submit" id="approve">Authorize</button></form>`,
          ),
        );
    });

    // Approval: a one-time code, bound to the CLI's PKCE challenge, back to its loopback port.
    scope.post<{ Body: Record<string, string> }>("/auth/cli/approve", async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, string>;
      const r = readRequest(body);
      const session = await authenticateSessionCookie(
        deps.pool,
        readCookie(req.headers.cookie, SESSION_COOKIE),
      );
      if (!session) throw new DomainError("unauthorized", { detail: "sign in first" });
      const sent = Buffer.from(String(body.csrf ?? ""));
      const want = Buffer.from(session.csrfToken);
      if (sent.length !== want.length || !timingSafeEqual(sent, want)) throw new DomainError("csrf_failed");
      const code = signer.signPayload({
        aud: CODE_AUDIENCE,
        exp: Math.floor(deps.clock.now().getTime() / 1000) + CODE_TTL_S,
        userId: session.user.id,
        challenge: r.challenge,
        client: r.client,
      });
      req.log.info({ user: session.user.username }, "CLI login approved");
      return reply
        .header("cache-control", "no-store")
        .redirect(
          `http://127.0.0.1:${r.port}/callback?${new URLSearchParams({ code, state: r.state })}`,
          302,
        );
    });

    // The CLI's exchange: the code plus the verifier behind its challenge -> an API token.
    scope.post<{ Body: { code?: unknown; verifier?: unknown } }>("/auth/cli/token", async (req) => {
      const code = typeof req.body?.code === "string" ? req.body.code : "";
      const verifier = typeof req.body?.verifier === "string" ? req.body.verifier : "";
      const claims = signer.verifyPayload<{
        aud: string;
        exp: number;
        userId: string;
        challenge: string;
        client: string;
      }>(code, CODE_AUDIENCE, deps.clock.now().getTime());
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (!claims || verifier.length < 43 || challenge !== claims.challenge)
        throw new DomainError("login_failed", {
          detail: "the login code is wrong or expired; run `boxyard login` again",
        });
      // The signed code names the user: the authenticator reads them, then the token is minted as them.
      const user = await authorizedStore(deps.pool, { kind: "system", name: "authenticator" }).getUserById(
        claims.userId,
      );
      if (!user || user.deleted_at || user.suspended_at)
        throw new DomainError("login_failed", { detail: "this user cannot sign in" });
      const minted = mintToken();
      const expiresAt = new Date(deps.clock.now().getTime() + TOKEN_LIFETIME_S * 1000);
      const name = `cli-${claims.client.replace(/[^a-z0-9-]/gi, "-").toLowerCase()}`
        .slice(0, 63)
        .replace(/-+$/, "");
      await inTx(deps.pool, async (tx) => {
        await authorizedStore(tx, { kind: "user", user }).insertToken({
          id: minted.id,
          userId: user.id,
          name,
          secretHash: minted.secretHash,
          expiresAt,
        });
        await recordAudit(tx, {
          orgId: null,
          actor: { kind: "user", id: user.id, name: user.username },
          action: "token.create",
          target: { kind: "token", id: minted.id, name },
          result: "success",
          details: { via: "cli login", client: claims.client, expiresAt: expiresAt.toISOString() },
          at: deps.clock.now(),
        });
      });
      return { token: minted.token, username: user.username, expiresAt: expiresAt.toISOString() };
    });
  });
}
