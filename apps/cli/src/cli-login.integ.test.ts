// `boxyard login URL` through the browser: the built CLI waits on a loopback
// port, a person signs in at a real OIDC provider (oidc-provider) in real
// Chromium and approves, and the CLI ends up with its own API token.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { startTestIdp, type TestIdp } from "@boxyard/testkit/oidc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOXYARD_BIN, ensureBuilt, runToExit } from "../../server/src/testing/server-process.ts";
import { startTestApi, type TestApi } from "../../server/src/testing/test-api.ts";

let api: TestApi;
let idp: TestIdp;
let home: string;

beforeAll(async () => {
  await ensureBuilt();
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
  home = await mkdtemp(join(tmpdir(), "boxyard-cli-login-"));
  idp.setAccount("carla", {
    sub: "carla-sub",
    email: "carla@corp.example",
    email_verified: true,
    preferred_username: "carla",
  });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await idp?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("boxyard login in the browser", () => {
  it("signs in through the identity provider, asks for approval, and saves the CLI's own token", async () => {
    const child = spawn(BOXYARD_BIN, ["login", api.url, "--no-browser"], {
      env: { PATH: process.env.PATH, HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const url = await waitFor(() => /(http:\/\/127\.0\.0\.1:\d+\/auth\/cli\?\S+)/.exec(stderr)?.[1], {
      timeoutMs: 20_000,
      message: "the CLI to print its sign-in address",
    });

    const { browser, close } = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(url);
      // The identity provider's login and consent pages, then back to the approval page.
      for (let step = 0; step < 4 && !(await page.$("#approve")); step++) {
        if (await page.$('input[name="login"]')) {
          await page.fill('input[name="login"]', "carla");
          await page.fill('input[name="password"]', "anything");
        }
        await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
      }
      expect(await page.textContent("body")).toContain("act as carla");
      await Promise.all([page.waitForNavigation(), page.click("#approve")]);
      expect(await page.textContent("body")).toContain("you are signed in");
    } finally {
      await close();
    }
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain(`Logged in to ${api.url} as carla.`);
    const cfg = JSON.parse(await readFile(join(home, ".config", "boxyard", "config.json"), "utf8"));
    expect(cfg.token).toMatch(/^byt_/);
    const who = await runToExit([BOXYARD_BIN, "whoami"], { PATH: process.env.PATH, HOME: home });
    expect(who.stdout).toBe(`carla on ${api.url}\n`);
  }, 120_000);

  it("refuses a code without the CLI's verifier, an approval without the CSRF token, and a forged link", async () => {
    const wrong = await fetch(`${api.url}/auth/cli/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "x.y", verifier: "a".repeat(43) }),
    });
    expect(wrong.status).toBe(403);
    expect((await wrong.json()).code).toBe("login_failed");
    const noSession = await fetch(`${api.url}/auth/cli/approve`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `port=5000&state=${"s".repeat(20)}&challenge=${"c".repeat(43)}&csrf=x`,
      redirect: "manual",
    });
    expect(noSession.status).toBe(401);
    const forged = await fetch(`${api.url}/auth/cli?port=80&state=x&challenge=y`, { redirect: "manual" });
    expect(forged.status).toBe(400);
  });
});
