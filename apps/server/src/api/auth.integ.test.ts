// Browser sign-in through a real OpenID Connect provider (oidc-provider on
// loopback) in real Chromium: the login and consent pages, the callback, the
// session cookie, CSRF on state-changing requests, and identity binding (B7).
import { freePort } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { startTestIdp, type TestIdp } from "@boxyard/testkit/oidc";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
let idp: TestIdp;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  idp = await startTestIdp({ redirectUri: `${publicUrl}/auth/callback` });
  api = await startTestApi({
    port,
    flags: {
      publicUrl,
      oidcIssuer: idp.issuer,
      oidcClientId: idp.clientId,
      oidcClientSecret: idp.clientSecret,
    },
  });
  chromium = await launchChromium();
  browser = chromium.browser;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await api?.close();
  await idp?.close();
});

/**
 * Goes through the IdP's pages as `login` (its login form, then consent; an
 * IdP session that remembers the person skips both) and returns what
 * /auth/session says.
 */
async function signIn(
  page: Page,
  login: string,
): Promise<{ user: { id: string; username: string }; csrfToken: string }> {
  await page.goto(`${api.url}/auth/login?returnTo=/auth/session`);
  for (let step = 0; step < 4 && new URL(page.url()).pathname !== "/auth/session"; step++) {
    if (await page.$('input[name="login"]')) {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', "anything");
    }
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  }
  expect(new URL(page.url()).pathname).toBe("/auth/session");
  return JSON.parse((await page.textContent("body")) ?? "{}");
}

describe("browser sign-in with OIDC", () => {
  it("signs a person in and gives an httpOnly session cookie", async () => {
    idp.setAccount("alice", {
      sub: "alice-sub",
      email: "alice@corp.example",
      email_verified: true,
      preferred_username: "alice",
    });
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const session = await signIn(page, "alice");
    expect(session.user.username).toBe("alice");
    const cookies = await ctx.cookies();
    const sessionCookie = cookies.find((c) => c.name === "boxyard_session");
    expect(sessionCookie).toMatchObject({ httpOnly: true, sameSite: "Lax" });

    // The cookie authenticates API reads.
    const me = await page.request.get(`${api.url}/api/v1/users/me`);
    expect(await me.json()).toMatchObject({ username: "alice" });

    // A state-changing request needs the CSRF header too.
    const noCsrf = await page.request.post(`${api.url}/api/v1/orgs`, { data: { name: "alice-org" } });
    expect(noCsrf.status()).toBe(403);
    expect((await noCsrf.json()).code).toBe("csrf_failed");
    const withCsrf = await page.request.post(`${api.url}/api/v1/orgs`, {
      data: { name: "alice-org" },
      headers: { "x-csrf-token": session.csrfToken },
    });
    expect(withCsrf.status()).toBe(201);

    // Signing in again finds the same user (keyed by issuer and subject).
    const again = await signIn(await ctx.newPage(), "alice");
    expect(again.user.id).toBe(session.user.id);

    // Logout ends the (newest) session, and needs its CSRF token.
    expect((await page.request.post(`${api.url}/auth/logout`)).status()).toBe(403);
    const out = await page.request.post(`${api.url}/auth/logout`, {
      headers: { "x-csrf-token": again.csrfToken },
    });
    expect(out.status()).toBe(204);
    expect((await page.request.get(`${api.url}/api/v1/users/me`)).status()).toBe(401);
    await ctx.close();
  });

  it("never links a different subject to an existing user by email (B7)", async () => {
    const attempts: Array<[string, Record<string, unknown>]> = [
      ["mallory1", { email: "alice@corp.example", email_verified: true }],
      ["mallory2", { email: "alice@corp.example", email_verified: "true" }],
      ["mallory3", { email: "alice@corp.example" }],
      ["mallory4", { email: "alice@corp.example@evil.example", email_verified: true }],
    ];
    const alice = (await api.call("GET", "/api/v1/users/me", { token: await api.createUser("probe") })).body;
    expect(alice.username).toBe("probe");
    for (const [login, claims] of attempts) {
      idp.setAccount(login, { sub: `${login}-sub`, preferred_username: "alice", ...claims });
      const ctx = await browser.newContext();
      const s = await signIn(await ctx.newPage(), login);
      expect(s.user.username, login).not.toBe("alice");
      expect(s.user.username).toMatch(/^alice-\d+$/);
      await ctx.close();
    }
  });

  it("links a verified email to an invited user who has never signed in", async () => {
    await api.call("POST", "/api/v1/users", { body: { username: "ivan", email: "ivan@corp.example" } });
    idp.setAccount("ivan", {
      sub: "ivan-sub",
      email: "ivan@corp.example",
      email_verified: true,
      preferred_username: "iv",
    });
    const ctx = await browser.newContext();
    const s = await signIn(await ctx.newPage(), "ivan");
    expect(s.user.username).toBe("ivan");
    await ctx.close();
  });
});
