// The web dashboard the way a person uses it, against the built server as
// its own process (private PostgreSQL, real gVisor runtime, real box
// network, a real OIDC provider) in Debian's Chromium: sign in, create a box
// from the busybox template and watch it reach running without a reload,
// open its terminal and run a command, pause and resume, delete after the
// confirmation; the admin's pages; the boxes page at phone width. The edits:
// carla shares her box's port, the admin edits the quota and a team's
// members; a viewer is offered none of them and the API refuses them; the
// box's history and the list's cost column.
// Screenshots of each page go to test-artifacts/dashboard/. Ends with a leak
// census. Test-catalogue B4 (the event and terminal channels are the
// signed-in person's own).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { startTestIdp, type TestIdp } from "@boxyard/testkit/oidc";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  REPO_ROOT,
  runToExit,
  type ServerProcess,
  startServerProcess,
} from "../../apps/server/src/testing/server-process.ts";
import { expectNodeClean, nodeEnv } from "./kit.ts";
import { releaseTestNode } from "./node-cleanup.ts";

const _run = promisify(execFile);
const NODE = { prefix: "bydb", subnet: "10.219.0.0/24" };
const SHOTS = join(REPO_ROOT, "test-artifacts", "dashboard");

let server: ServerProcess;
let idp: TestIdp;
let dataDir: string;
let token: string;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let browser: Browser;
/** Carla's browser: signed in through the identity provider (session cookie + CSRF). */
let carla: BrowserContext;
let page: Page;
const problems: string[] = [];

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function watch(p: Page): Page {
  p.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  p.on("pageerror", (err) => problems.push(String(err)));
  return p;
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  await ensureBuilt();
  // A bundle built before the dashboard existed: build once more.
  if (!existsSync(join(REPO_ROOT, "dist/dashboard/index.html")))
    await runToExit(["node", join(REPO_ROOT, "scripts/build.mjs")]);
  await rm(SHOTS, { recursive: true, force: true });
  await mkdir(SHOTS, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), "boxyard-e2e-dash-"));
  const port = await freePort();
  idp = await startTestIdp({ redirectUri: `http://127.0.0.1:${port}/auth/callback` });
  server = await startServerProcess({
    dataDir,
    port,
    env: {
      ...nodeEnv(NODE),
      BOXYARD_OIDC_ISSUER: idp.issuer,
      BOXYARD_OIDC_CLIENT_ID: idp.clientId,
      BOXYARD_OIDC_CLIENT_SECRET: idp.clientSecret,
    },
  });
  token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  expect((await api("POST", "/api/v1/orgs", { name: "acme" })).status).toBe(201);
  // Carla is invited by email and made a member before she first signs in.
  expect(
    (await api("POST", "/api/v1/users", { username: "carla", email: "carla@corp.example" })).status,
  ).toBe(201);
  expect((await api("PUT", "/api/v1/orgs/acme/members/carla", { role: "member" })).status).toBe(200);
  expect((await api("PUT", "/api/v1/orgs/acme/quota", { maxBoxes: 5, cpu: 8, memoryMiB: 4096 })).status).toBe(
    200,
  );
  idp.setAccount("carla", { sub: "carla-sub", email: "carla@corp.example", email_verified: true });
  chromium = await launchChromium();
  browser = chromium.browser;
}, 180_000);

afterAll(async () => {
  await chromium?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await idp?.close();
  await releaseTestNode({ dataDir, prefix: NODE.prefix, subnet: NODE.subnet });
  await rm(dataDir, { recursive: true, force: true });
}, 120_000);

describe("the dashboard in Chromium against a gVisor server", () => {
  it("signs carla in through the identity provider", async () => {
    carla = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = watch(await carla.newPage());
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { name: "Sign in to Boxyard" }).waitFor();
    await shot(page, "01-sign-in");
    await page.getByRole("link", { name: "Sign in with your identity provider" }).click();
    for (let step = 0; step < 4 && new URL(page.url()).origin !== server.url; step++) {
      if (await page.$('input[name="login"]')) {
        await page.fill('input[name="login"]', "carla");
        await page.fill('input[name="password"]', "anything");
      }
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    }
    await page.getByRole("heading", { name: "Boxes", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/boxes");
    await page.getByText("No boxes in acme yet").waitFor();
    expect(await page.locator(".user").textContent()).toBe("carla");
    const cookies = await carla.cookies();
    expect(cookies.find((c) => c.name === "boxyard_session")).toMatchObject({ httpOnly: true });
  });

  it("creates a box from the busybox template and shows it reach running live, without a reload", async () => {
    await page.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 7;
    });
    await page.getByRole("button", { name: "New box" }).click();
    await page.getByLabel("Name").fill("web");
    await page.getByLabel("Template").selectOption("busybox");
    // Over the org's quota: refused with the server's reason, and nothing is made.
    await page.getByLabel("Memory (MiB)").fill("8192");
    await page.getByRole("button", { name: "Create box" }).click();
    await expect.poll(() => page.locator("#create-box [role=alert]").textContent()).toMatch(/quota/i);
    expect((await api("GET", "/api/v1/orgs/acme/boxes/web")).status).toBe(404);
    await shot(page, "02-create-refused");
    await page.getByLabel("Memory (MiB)").fill("512");
    await shot(page, "02-create-box");
    await page.getByRole("button", { name: "Create box" }).click();
    const row = page.locator('tr[data-box="web"]');
    await row.waitFor();
    // Seen on its way (pending, provisioning, starting...) and then running, on the same page load.
    const seen = new Set<string>();
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const state = await row.locator(".badge").getAttribute("data-state");
      if (state) seen.add(state);
      if (state === "running") break;
      if (state === "failed") throw new Error(`the box failed: ${await row.textContent()}`);
      await page.waitForTimeout(100);
    }
    expect(seen.has("running"), [...seen].join(", ")).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
    expect(await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark)).toBe(7);
    const box = (await api("GET", "/api/v1/orgs/acme/boxes/web")).body;
    expect(box).toMatchObject({ owner: "carla", actualState: "running", resources: { memoryMiB: 512 } });
    await shot(page, "03-boxes-running");
  });

  it("shows the box: what persists, events with reasons, and opens its terminal to run a command", async () => {
    await page.locator('tr[data-box="web"]').getByRole("link", { name: "web", exact: true }).click();
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
    await page.getByText("This box is not persistent: if its node is lost, so is its disk.").waitFor();
    await page
      .getByText("Pause keeps running processes too: Resume continues them where they were.")
      .waitFor();
    // The history: who created it, and each state change with its reason.
    await page.getByRole("heading", { name: "History" }).waitFor();
    const history = page.locator(".events");
    await history.locator('li[data-action="box.create"]').getByText("created the box from busybox").waitFor();
    expect(await history.locator('li[data-action="box.create"] strong').textContent()).toBe("carla");
    await history.locator('li[data-to="running"]').first().waitFor();
    // Carla shares a port of her own box with anyone with the link, then with the org only.
    await page.getByLabel("Port", { exact: true }).fill("8080");
    await page.getByLabel("Visible to").selectOption("public");
    await page.getByLabel("Label").fill("web");
    await page.getByRole("button", { name: "Share", exact: true }).click();
    await page.getByText("Port 8080 is now visible to anyone with the link.").waitFor();
    const ports = async () => (await api("GET", "/api/v1/orgs/acme/boxes/web/ports")).body.items;
    expect(await ports()).toEqual([
      expect.objectContaining({ port: 8080, visibility: "public", label: "web" }),
    ]);
    await page.getByRole("combobox", { name: "Who sees port 8080" }).selectOption("org");
    await page.getByText("Port 8080 is now visible to members of the org.").waitFor();
    expect(await ports()).toEqual([expect.objectContaining({ port: 8080, visibility: "org" })]);
    await history
      .locator('li[data-action="box.port.share"]')
      .getByText("shared port 8080 with the org")
      .waitFor();
    await shot(page, "04-box-detail");
    await page.getByRole("link", { name: "Open terminal" }).click();
    await page.waitForURL(`${server.url}/boxes/acme/web/terminal`);
    // No token in this browser: the terminal page uses carla's session (cookie + CSRF) for its ticket.
    await page.waitForSelector("text=Connected to web.", { timeout: 30_000 });
    await page.click("#terminal");
    await page.keyboard.type("echo dashboard-$((6*7))-uid-$(id -u)\n");
    await page.waitForSelector("text=dashboard-42-uid-1000", { timeout: 30_000 }).catch(async (err) => {
      await shot(page, "05-terminal-failed");
      throw err;
    });
    await shot(page, "05-terminal");
    await page.getByRole("link", { name: "Back to the dashboard" }).click();
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
  });

  it("pauses and resumes the box, the state following live", async () => {
    await page.getByRole("button", { name: "Pause web" }).click();
    await page.locator('.page-head [data-state="paused"]').waitFor({ timeout: 60_000 });
    await page.locator('.events li[data-to="paused"]').waitFor();
    // The terminal session just used is in the box's history, named for carla.
    const terminal = page.locator('.events li[data-action="box.terminal.open"]').first();
    await terminal.getByText("opened the browser terminal").waitFor();
    expect(await terminal.locator("strong").textContent()).toBe("carla");
    await shot(page, "06-box-paused");
    await page.getByRole("button", { name: "Resume web" }).click();
    await page.locator('.page-head [data-state="running"]').waitFor({ timeout: 60_000 });
    // The process state survived: the same shell history is not needed, a command runs at once.
    const exec = await api("POST", "/api/v1/orgs/acme/boxes/web/exec", { command: ["echo", "after-resume"] });
    expect(exec.body).toMatchObject({ exitCode: 0, stdout: "after-resume\n" });
  });

  it("shows the admin the templates, the organisation's pages and the boxes page at phone width", async () => {
    const admin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = watch(await admin.newPage());
    await p.goto(`${server.url}/`);
    await p.getByLabel("API token", { exact: true }).fill(token);
    await p.getByRole("button", { name: "Sign in with token" }).click();
    await p.getByRole("heading", { name: "Boxes", level: 1 }).waitFor();
    await p.locator('tr[data-box="web"] [data-state="running"]').waitFor();
    // The cost so far this month, as `boxyard ls` shows it.
    await p.getByRole("columnheader", { name: /Cost/ }).waitFor();
    await expect
      .poll(() => p.locator('tr[data-box="web"] td[data-label="Cost"]').textContent())
      .toMatch(/\$\d/);
    await p.getByRole("link", { name: "Templates" }).click();
    await p.getByRole("link", { name: "busybox" }).waitFor();
    await shot(p, "07-templates");
    await p.getByRole("link", { name: "Organisation" }).click();
    await p.getByRole("rowheader", { name: "carla" }).waitFor();
    await shot(p, "08-org-members");
    await p.getByRole("link", { name: "Quota" }).click();
    await p.locator(".quota").getByText("Running boxes").waitFor();
    // Usage bars against the limits: carla's box takes 512 of 4096 MiB.
    const memory = p.getByRole("meter", { name: "Memory" });
    expect(await memory.getAttribute("value")).toBe("512");
    expect(await memory.getAttribute("max")).toBe("4096");
    await p.getByText("512 MiB of 4096 MiB").waitFor();
    await p.locator(".quota").getByText("Running boxes").locator("..").getByText("no limit").waitFor();
    await shot(p, "09-org-quota");
    // The site admin changes a limit; the others stay as they were.
    await p.getByRole("spinbutton", { name: "Boxes", exact: true }).fill("6");
    await p.getByRole("spinbutton", { name: "Running boxes", exact: true }).fill("3");
    await p.getByRole("button", { name: "Save quota" }).click();
    await p.getByText("The quota of acme is saved.").waitFor();
    expect((await api("GET", "/api/v1/orgs/acme/quota")).body.limits).toEqual({
      maxBoxes: 6,
      maxRunningBoxes: 3,
      cpu: 8,
      memoryMiB: 4096,
      diskGiB: null,
      gpus: null,
    });
    await p.getByText("1 of 3").waitFor();
    await shot(p, "09-org-quota-edited");
    // Teams: create one, add carla, a refusal with the server's reason, take carla off again.
    await p.getByRole("link", { name: "Teams" }).click();
    await p.getByLabel("Team name").fill("core");
    await p.getByRole("button", { name: "Create team" }).click();
    const team = p.locator('[data-team="core"]');
    const teamMembers = async () =>
      (await api("GET", "/api/v1/orgs/acme/teams/core/members")).body.items.map(
        (m: { username: string }) => m.username,
      );
    await team.getByLabel("Username to add to core").fill("carla");
    await team.getByRole("button", { name: "Add to core" }).click();
    await team.locator('[data-member="carla"]').waitFor();
    expect(await teamMembers()).toEqual(["carla"]);
    await team.getByLabel("Username to add to core").fill("nobody");
    await team.getByRole("button", { name: "Add to core" }).click();
    await expect.poll(() => team.getByRole("alert").textContent()).toMatch(/not found|no user|nobody/i);
    await shot(p, "09-org-teams-edited");
    await team.getByRole("button", { name: "Remove carla from core" }).click();
    await team.locator('[data-member="carla"]').waitFor({ state: "detached" });
    expect(await teamMembers()).toEqual([]);
    await p.getByRole("link", { name: "Audit log" }).click();
    await p.getByLabel("Action").fill("box.create");
    await p.getByRole("button", { name: "Filter" }).click();
    await p.getByRole("cell", { name: "box.create" }).first().waitFor();
    await shot(p, "10-org-audit");
    await p.getByRole("link", { name: "Usage and cost" }).click();
    await p.getByRole("img", { name: /Cost per box: web/ }).waitFor();
    await shot(p, "11-org-usage");

    // A phone: one column, no sideways scrolling, the box and its actions still there.
    await p.setViewportSize({ width: 390, height: 844 });
    await p.getByRole("link", { name: "Boxes" }).click();
    const row = p.locator('tr[data-box="web"]');
    await row.locator('[data-state="running"]').waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const actions = await row.getByRole("button", { name: "Pause web" }).boundingBox();
    expect(actions && actions.x + actions.width).toBeLessThanOrEqual(390);
    await shot(p, "12-boxes-390px");
    await admin.close();
  });

  it("offers a viewer no edits, says why, and the API refuses the same edits", async () => {
    expect((await api("POST", "/api/v1/users", { username: "vic", email: "vic@corp.example" })).status).toBe(
      201,
    );
    expect((await api("PUT", "/api/v1/orgs/acme/members/vic", { role: "viewer" })).status).toBe(200);
    const vicToken = (await api("POST", "/api/v1/users/vic/tokens", { name: "dash" })).body.token as string;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), vicToken);
    const v = watch(await ctx.newPage());
    await v.goto(`${server.url}/boxes`);
    await v.locator('tr[data-box="web"] [data-state="running"]').waitFor();
    expect(await v.getByRole("columnheader", { name: /Cost/ }).count()).toBe(0);
    expect(await v.locator('tr[data-box="web"]').getByRole("button").count()).toBe(0);
    await v.goto(`${server.url}/boxes/acme/web`);
    await v
      .getByText("You are a viewer here: only its owner and the org's owners and admins may share")
      .waitFor();
    await v.getByRole("cell", { name: "members of the org" }).waitFor();
    await v.locator('.events li[data-action="box.port.share"]').first().waitFor();
    expect(await v.getByRole("button", { name: "Share", exact: true }).count()).toBe(0);
    expect(await v.getByRole("button", { name: "Pause web" }).count()).toBe(0);
    expect(await v.getByRole("link", { name: "Open terminal" }).count()).toBe(0);
    await shot(v, "14-viewer-box");
    await v.goto(`${server.url}/org/teams`);
    await v.getByText("You are a viewer here: only org owners and admins may create teams").waitFor();
    expect(await v.getByRole("button", { name: "Create team" }).count()).toBe(0);
    await v.goto(`${server.url}/org/quota`);
    await v.getByText("Only a site admin may change quotas").waitFor();
    expect(await v.getByRole("button", { name: "Save quota" }).count()).toBe(0);
    await ctx.close();
    const asVic = async (method: string, path: string, body: unknown) =>
      (
        await fetch(server.url + path, {
          method,
          headers: { authorization: `Bearer ${vicToken}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        })
      ).status;
    expect(await asVic("PUT", "/api/v1/orgs/acme/boxes/web/ports/8080", { visibility: "public" })).toBe(403);
    expect(await asVic("PUT", "/api/v1/orgs/acme/teams/core/members/vic", {})).toBe(403);
    expect(await asVic("PUT", "/api/v1/orgs/acme/quota", { maxBoxes: 99 })).toBe(403);
    expect((await api("GET", "/api/v1/orgs/acme/boxes/web/ports")).body.items).toEqual([
      expect.objectContaining({ port: 8080, visibility: "org" }),
    ]);
    expect((await api("GET", "/api/v1/orgs/acme/quota")).body.limits.maxBoxes).toBe(6);
    expect((await api("GET", "/api/v1/orgs/acme/teams/core/members")).body.items).toEqual([]);
  });

  it("deletes the box after the confirmation, and it leaves the list live", async () => {
    await page.getByRole("link", { name: "Boxes", exact: true }).first().click();
    const row = page.locator('tr[data-box="web"]');
    await row.waitFor();
    await row.getByRole("button", { name: "Delete web" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete web?" });
    await dialog.waitFor();
    await shot(page, "13-delete-confirmation");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await api("GET", "/api/v1/orgs/acme/boxes/web")).body.desiredState).toBe("running");
    await row.getByRole("button", { name: "Delete web" }).click();
    await dialog.getByRole("button", { name: "Delete web" }).click();
    await row.waitFor({ state: "detached", timeout: 60_000 });
    await page.getByText("No boxes in acme yet").waitFor();
    expect((await api("GET", "/api/v1/orgs/acme/boxes/web")).status).toBe(404);
    // Signing out ends the session.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Boxyard" }).waitFor();
    expect((await page.request.get(`${server.url}/api/v1/users/me`)).status()).toBe(401);
    await carla.close();
    expect(problems).toEqual([]);
  });

  it("leaves nothing behind on the node, and the server stops cleanly", async () => {
    await expectNodeClean({ dataDir, prefix: NODE.prefix });
    await chromium.close();
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
