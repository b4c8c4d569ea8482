// The dashboard served by the real server in this process (fake box
// runtime, so boxes change state in milliseconds): how its page and files
// are served (CSP, client routes, what stays an API 404), and the pages in
// Debian's Chromium, signed in with a token and through a real OIDC provider
// (session cookie and CSRF header). The gVisor end-to-end run, with the
// terminal, is tests/e2e/dashboard.e2e.test.ts.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { FakeRuntime } from "@boxyard/runtime";
import { freePort, waitFor } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { startTestIdp, type TestIdp } from "@boxyard/testkit/oidc";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScriptedImages } from "../testing/scripted-images.ts";
import { ensureBuilt } from "../testing/server-process.ts";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
let idp: TestIdp;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let browser: Browser;
/** Template builds on the in-process node: scripted (package "flaky" fails once, then builds). */
const images = new ScriptedImages();
/** The in-process node's runtime, so a test can have a box's OOM guard kill a process. */
const runtime = new FakeRuntime();
const SHOTS = fileURLToPath(new URL("../../../../test-artifacts/dashboard/", import.meta.url));

const HTML = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };

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
    // The node looks at its boxes every second (default 15 s), so an OOM kill reaches the page quickly.
    lifecycle: { agent: { images, rescanMs: 1_000 }, runtime },
  });
  expect((await api.call("POST", "/api/v1/orgs", { body: { name: "acme" } })).status).toBe(201);
  chromium = await launchChromium();
  browser = chromium.browser;
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await api?.close();
  await idp?.close();
});

/** Fails the test on any Content-Security-Policy violation or uncaught error in the page. */
function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (err) => problems.push(String(err)));
  return problems;
}

describe("the dashboard's page and files", () => {
  it("serves one page at / and at client routes, with a CSP that allows nothing inline or foreign", async () => {
    for (const path of ["/", "/boxes", "/boxes/acme/web", "/templates/busybox", "/org/audit", "/signin"]) {
      const res = await fetch(api.url + path, { headers: HTML });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      // The page knows OIDC sign-in is offered; it has no inline script.
      expect(html).toContain('<meta name="boxyard-oidc" content="on"');
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it("serves the build's hashed files for good, and nothing else under /static", async () => {
    const html = await (await fetch(`${api.url}/`, { headers: HTML })).text();
    const js = /src="(\/static\/[^"]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/static\/[^"]+\.css)"/.exec(html)?.[1];
    expect(js && css).toBeTruthy();
    const script = await fetch(api.url + js);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(api.url + css)).headers.get("content-type")).toMatch(/^text\/css/);
    for (const bad of [
      "/static/index.html",
      "/static/..%2F..%2Fpackage.json",
      "/static/.hidden",
      "/static/nope.js",
    ]) {
      const res = await fetch(api.url + bad);
      expect(res.status, bad).toBe(404);
      expect((await res.json()).code).toBe("route_not_found");
    }
  });

  it("keeps API, auth and non-page requests as problem+json 404s, and the terminal page as it was", async () => {
    for (const path of ["/api/v1/nope", "/api/v1/orgs/acme/nope", "/auth/nope", "/assets/nope.js"]) {
      const res = await fetch(api.url + path, { headers: HTML });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    }
    const json = await fetch(`${api.url}/boxes`, { headers: { accept: "application/json" } });
    expect(json.status).toBe(404);
    expect((await json.json()).code).toBe("route_not_found");
    const term = await fetch(`${api.url}/boxes/acme/web/terminal`, { headers: HTML });
    expect(await term.text()).toContain("/assets/terminal.js");
  });
});

describe("the dashboard in Chromium (fake runtime)", () => {
  it("signs in with a token, creates a box and follows it live to running, pauses, resumes and deletes it", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/`);
    await page.getByLabel("API token", { exact: true }).fill("not-a-token");
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/Unauthorized|token/i);
    await page.getByLabel("API token", { exact: true }).fill(api.adminToken);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("heading", { name: "Boxes", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/boxes");
    expect(await page.getByLabel("Organisation").inputValue()).toBe("acme");

    // Marks this page load: a reload would lose it.
    await page.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 42;
    });
    await page.getByRole("button", { name: "New box" }).click();
    await page.getByLabel("Name").fill("web");
    await page.getByLabel("Template").selectOption("busybox");
    await page.getByRole("button", { name: "Create box" }).click();
    const row = page.locator('tr[data-box="web"]');
    await row.locator('[data-state="running"]').waitFor({ timeout: 20_000 });

    await row.getByRole("button", { name: "Pause web" }).click();
    await row.locator('[data-state="paused"]').waitFor({ timeout: 20_000 });
    await row.getByRole("button", { name: "Resume web" }).click();
    await row.locator('[data-state="running"]').waitFor({ timeout: 20_000 });

    // The box page: the same words as `boxyard show`, the terminal link, events with reasons.
    await row.getByRole("link", { name: "web", exact: true }).click();
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
    await page.getByText("This box is not persistent: if its node is lost, so is its disk.").waitFor();
    await page.getByText("None configured: the box runs until you stop or pause it.").waitFor();
    expect(await page.getByRole("link", { name: "Open terminal" }).getAttribute("href")).toBe(
      "/boxes/acme/web/terminal",
    );
    await page.getByRole("button", { name: "Stop web" }).click();
    await page.locator('.events li[data-to="stopped"]').waitFor({ timeout: 20_000 });

    // Delete asks first; Cancel keeps the box.
    await page.getByRole("button", { name: "Delete web" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete web?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await api.call("GET", "/api/v1/orgs/acme/boxes/web")).body.desiredState).toBe("stopped");
    await page.getByRole("button", { name: "Delete web" }).click();
    await dialog.getByRole("button", { name: "Delete web" }).click();
    await page.getByRole("heading", { name: "Boxes", level: 1 }).waitFor();
    await row.waitFor({ state: "detached", timeout: 20_000 });
    await expect
      .poll(async () => (await api.call("GET", "/api/v1/orgs/acme/boxes/web")).status, { timeout: 20_000 })
      .toBe(404);
    expect(await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark)).toBe(42);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("shows templates, members, quota, the audit log with a filter, and usage as a chart", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), api.adminToken);
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/templates`);
    await page.getByRole("link", { name: "busybox" }).waitFor();
    await page.goto(`${api.url}/org/members`);
    await page.getByRole("cell", { name: "owner" }).waitFor();
    await page.getByRole("link", { name: "Teams" }).click();
    await page.getByLabel("Team name").fill("platform");
    await page.getByRole("button", { name: "Create team" }).click();
    await page.getByText("platform", { exact: true }).waitFor();
    await page.getByRole("link", { name: "Quota" }).click();
    await page.locator(".quota").getByText("Running boxes").waitFor();
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("cell", { name: "team.create" }).waitFor();
    await page.getByLabel("Action").fill("box.delete");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByRole("cell", { name: "box.delete" }).first().waitFor();
    await expect.poll(() => page.getByRole("cell", { name: "team.create" }).count()).toBe(0);
    await page.getByRole("link", { name: "Usage and cost" }).click();
    await page.getByRole("img", { name: /Cost per box: web/ }).waitFor();
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("shows each template version's build, its log (followed live), and retries a failed build", async () => {
    const push = async (name: string, packages: string[]) => {
      const res = await api.call("POST", "/api/v1/orgs/acme/templates", {
        body: { name, spec: { image: { base: "debian-bookworm", packages } } },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    };
    const buildOf = async (name: string) =>
      (await api.call("GET", `/api/v1/orgs/acme/templates/${name}/versions/1/build`)).body as {
        status: string;
      };
    await push("webtools", ["git", "curl"]);
    await push("mirror", ["flaky"]);
    for (const [name, end] of [
      ["webtools", "ready"],
      ["mirror", "failed"],
    ] as const)
      await waitFor(async () => (await buildOf(name)).status === end, {
        timeoutMs: 20_000,
        message: `build of ${name} ${end}`,
      });

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), api.adminToken);
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/templates`);
    await page.locator('[data-build-of="webtools"] [data-build="ready"]').waitFor();
    const failed = page.locator('[data-build-of="mirror"]');
    await failed.locator('[data-build="failed"]').waitFor();
    expect(await failed.textContent()).toContain("Temporary failure resolving deb.debian.org");
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}templates-builds.png`, fullPage: true });

    // The failed version's page: the reason, its log, and Retry for an owner.
    await page.getByRole("link", { name: "mirror", exact: true }).click();
    await page.getByRole("heading", { name: "mirror: versions", level: 1 }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    const build = page.locator('.build[data-build-version="1"]');
    await build.locator('[data-build="failed"]').first().waitFor();
    await page.getByRole("button", { name: "Show build log of mirror v1" }).click();
    const log = page.getByRole("log", { name: "Build log of mirror v1" });
    await expect.poll(() => log.textContent()).toContain("E: Failed to fetch http://deb.debian.org/debian");
    expect(await log.textContent()).toContain("I: installing flaky");
    expect(await log.getAttribute("aria-live")).toBe("off");
    // Nothing is wider than the phone's screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}template-build-log-390px.png`, fullPage: true });

    await page.getByRole("button", { name: "Retry build of mirror v1" }).click();
    await expect
      .poll(() => build.locator(".build-status [data-build]").getAttribute("data-build"), { timeout: 20_000 })
      .not.toBe("failed");
    await build.locator('.build-status [data-build="ready"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => log.textContent(), { timeout: 20_000 }).toContain("I: success");
    expect(await log.textContent()).toContain("--- build queued again by");
    expect(await page.getByRole("button", { name: "Retry build of mirror v1" }).count()).toBe(0);
    expect((await buildOf("mirror")).status).toBe("ready");
    await page.screenshot({ path: `${SHOTS}template-build-retried-390px.png`, fullPage: true });

    // A build still running: its log is followed live (a polite live region) until it ends.
    images.hold();
    await push("slowpoke", ["slow"]);
    await waitFor(async () => (await buildOf("slowpoke")).status === "building", {
      timeoutMs: 20_000,
      message: "build of slowpoke started",
    });
    await page.goto(`${api.url}/templates/slowpoke`);
    await page.locator('.build-status [data-build="building"]').waitFor();
    await page.getByRole("button", { name: "Show build log of slowpoke v1" }).click();
    const live = page.getByRole("log", { name: "Build log of slowpoke v1" });
    await expect.poll(() => live.textContent()).toContain("I: installing slow");
    expect(await live.getAttribute("aria-live")).toBe("polite");
    await page.getByText("(following live)").waitFor();
    expect(await live.textContent()).not.toContain("I: success");
    await page.screenshot({ path: `${SHOTS}template-build-following-390px.png`, fullPage: true });
    images.release();
    await expect.poll(() => live.textContent(), { timeout: 20_000 }).toContain("I: success");
    await page.locator('.build-log-panel [data-build="ready"]').waitFor({ timeout: 20_000 });
    expect(await live.getAttribute("aria-live")).toBe("off");
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("shows a devcontainer.json version's source and warnings, and a box's declared port before any share", async () => {
    const devcontainer = `{
  // the project's dev container
  "image": "debian:bookworm",
  "forwardPorts": [8080],
  "portsAttributes": { "8080": { "label": "web" } },
  "remoteUser": "vscode",
}`;
    const res = await api.call("POST", "/api/v1/orgs/acme/templates", {
      body: { name: "devc", spec: { image: { devcontainer, file: ".devcontainer/devcontainer.json" } } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await waitFor(
      async () =>
        (await api.call("GET", "/api/v1/orgs/acme/templates/devc/versions/1/build")).body.status === "ready",
      { timeoutMs: 20_000, message: "build of devc ready" },
    );
    await api.call("POST", "/api/v1/orgs/acme/boxes", { body: { name: "devbox", template: "devc" } });
    await waitFor(
      async () => (await api.call("GET", "/api/v1/orgs/acme/boxes/devbox")).body.actualState === "running",
      { timeoutMs: 20_000, message: "devbox running" },
    );
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), api.adminToken);
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/templates/devc`);
    const source = page.locator('[data-source-of="1"]');
    await source.waitFor();
    expect(await source.textContent()).toContain(
      "Made from .devcontainer/devcontainer.json; 1 key(s) not honoured:",
    );
    const warnings = page.getByRole("list", {
      name: "What version 1's devcontainer.json asked for that is not done",
    });
    expect(await warnings.textContent()).toContain("remoteUser: the box user is always dev");
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}template-devcontainer.png`, fullPage: true });
    await page.goto(`${api.url}/boxes/acme/devbox`);
    const port = page.locator('tr[data-port="8080"]');
    await port.waitFor();
    expect(await port.locator('td[data-label="Label"]').textContent()).toBe("web (from the template)");
    expect(await port.getByRole("combobox", { name: "Who sees port 8080" }).inputValue()).toBe("private");
    await port.getByRole("link", { name: "Open preview of port 8080" }).waitFor();
    await page.screenshot({ path: `${SHOTS}box-declared-port.png`, fullPage: true });
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("shows a template's prebuilds with their logs, queues one that turns ready live, and a box's prebuild", async () => {
    type Pb = { id: string; status: string; error: string | null; requestedBy: string | null };
    const listOf = async (name: string) =>
      (await api.call("GET", `/api/v1/orgs/acme/templates/${name}/prebuilds`)).body.items as Pb[];
    const settled = (name: string) =>
      waitFor(
        async () => {
          const [p] = await listOf(name);
          return p && (p.status === "ready" || p.status === "failed") ? p : undefined;
        },
        { timeoutMs: 20_000, message: `prebuild of ${name}` },
      );
    // A push of a template with init commands queues a prebuild that the in-process node runs.
    for (const [name, init] of [
      ["prebuilt", ["echo built > /workspace/marker"]],
      ["brokenpb", ["exit 3"]],
    ] as const) {
      const res = await api.call("POST", "/api/v1/orgs/acme/templates", {
        body: { name, spec: { image: { base: "busybox" }, init } },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const ready = await settled("prebuilt");
    expect(ready.status).toBe("ready");
    const failed = await settled("brokenpb");
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("init command 1 exited with 3");
    const admin = (await api.call("GET", "/api/v1/users/me")).body.username as string;

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), api.adminToken);
    const page = await ctx.newPage();
    const problems = watchPage(page);

    // The templates list has each template's newest prebuild.
    await page.goto(`${api.url}/templates`);
    await page.locator('[data-prebuild-summary-of="prebuilt"] [data-build="ready"]').waitFor();
    const newest = page.locator('[data-prebuild-summary-of="brokenpb"]');
    await newest.locator('[data-build="failed"]').waitFor();
    expect(await newest.textContent()).toContain("init command 1 exited with 3");

    // The failed one: its error in the list, its log with the failing command.
    await page.goto(`${api.url}/templates/brokenpb`);
    const prebuilds = page.getByRole("region", { name: "Prebuilds", exact: true });
    const failedRow = prebuilds.locator(`tr[data-prebuild="${failed.id}"]`);
    await failedRow.locator('[data-build="failed"]').waitFor();
    expect(await failedRow.locator("[data-prebuild-error]").textContent()).toContain(
      "init command 1 exited with 3",
    );
    expect(await failedRow.locator('td[data-label="Queued by"]').textContent()).toBe(`push by ${admin}`);
    await failedRow.getByRole("button", { name: `Show log of prebuild ${failed.id}` }).click();
    const failedLog = page.getByRole("log", { name: `Prebuild log of ${failed.id}` });
    await expect
      .poll(() => failedLog.textContent())
      .toContain("prebuild failed: init command 1 exited with 3");
    expect(await failedLog.getAttribute("aria-live")).toBe("off");

    // The ready one: its log has the init line; "Prebuild now" queues another that turns ready in place.
    await page.goto(`${api.url}/templates/prebuilt`);
    const readyRow = prebuilds.locator(`tr[data-prebuild="${ready.id}"]`);
    await readyRow.locator('[data-build="ready"]').waitFor();
    expect(await readyRow.locator('td[data-label="Version"]').textContent()).toBe("v1");
    expect(await readyRow.locator('td[data-label="Duration"]').textContent()).toMatch(/^\d+\.\d\u00a0s$/);
    await readyRow.getByRole("button", { name: `Show log of prebuild ${ready.id}` }).click();
    const readyLog = page.getByRole("log", { name: `Prebuild log of ${ready.id}` });
    await expect.poll(() => readyLog.textContent()).toContain("init 1/1: echo built > /workspace/marker");
    await page.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 7;
    });
    await prebuilds.getByRole("button", { name: "Prebuild now" }).click();
    await expect.poll(async () => (await listOf("prebuilt")).length).toBe(2);
    const [asked] = await listOf("prebuilt");
    expect(asked).toMatchObject({ requestedBy: admin });
    const askedRow = prebuilds.locator(`tr[data-prebuild="${asked!.id}"]`);
    await askedRow.locator('[data-build="ready"]').waitFor({ timeout: 20_000 });
    expect(await askedRow.locator('td[data-label="Queued by"]').textContent()).toBe(`request by ${admin}`);
    expect(await prebuilds.locator("tbody tr").count()).toBe(2);
    // The change is said, not only shown.
    await expect
      .poll(() => prebuilds.getByRole("status").textContent())
      .toBe(`Prebuild ${asked!.id} of prebuilt v1 is ready`);
    // Its log opened on its own, followed until it ended.
    const askedLog = page.getByRole("log", { name: `Prebuild log of ${asked!.id}` });
    await expect.poll(() => askedLog.textContent(), { timeout: 20_000 }).toContain("ready in");
    await page.locator('.build-log-panel [data-build="ready"]').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark)).toBe(7);
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}template-prebuilds.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(() => page.evaluate(() => document.documentElement.scrollWidth))
      .toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}template-prebuilds-390px.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // A box made from the template shows the prebuild it started from, with a link to it.
    await api.call("POST", "/api/v1/orgs/acme/boxes", { body: { name: "pbox", template: "prebuilt" } });
    const box = await waitFor(
      async () => {
        const b = (await api.call("GET", "/api/v1/orgs/acme/boxes/pbox")).body;
        return b.actualState === "running" ? b : undefined;
      },
      { timeoutMs: 20_000, message: "pbox running" },
    );
    expect(box.prebuild).toEqual({ id: asked!.id, commit: null });
    await page.goto(`${api.url}/boxes/acme/pbox`);
    const source = page.getByRole("region", { name: "Repository and prebuild" });
    await source.getByRole("link", { name: `Prebuild ${asked!.id} of prebuilt` }).waitFor();
    expect(await source.textContent()).toContain("None: the template checks nothing out");
    expect(await source.locator("[data-stale-prebuild]").count()).toBe(0);
    await page.screenshot({ path: `${SHOTS}box-prebuild.png`, fullPage: true });
    await source.getByRole("link", { name: `Prebuild ${asked!.id} of prebuilt` }).click();
    await page.getByRole("heading", { name: "prebuilt: versions", level: 1 }).waitFor();
    await expect
      .poll(() => page.getByRole("log", { name: `Prebuild log of ${asked!.id}` }).textContent())
      .toContain("init 1/1: echo built > /workspace/marker");
    expect(await prebuilds.locator(`tr[data-prebuild="${asked!.id}"]`).getAttribute("class")).toBe(
      "selected",
    );

    // A box whose checkout the node brought past its prebuild's commit says so. The fake runtime has
    // no git, so the test shapes the API's answer for such a box (and keeps its live stream away).
    const [old, moved] = ["a1b2c3d4e5f6".padEnd(40, "0"), "0f9e8d7c6b5a".padEnd(40, "1")];
    await page.route("**/api/v1/orgs/acme/boxes/pbox/events", (r) => r.abort());
    await page.route("**/api/v1/orgs/acme/boxes/pbox", async (r) => {
      const res = await r.fetch();
      const body = (await res.json()) as Record<string, unknown>;
      body.repo = { url: "http://git.example/app.git", ref: "main", commit: moved };
      body.prebuild = { id: asked!.id, commit: old };
      await r.fulfill({ response: res, json: body });
    });
    await page.goto(`${api.url}/boxes/acme/pbox`);
    const stale = source.locator("[data-stale-prebuild]");
    await stale.waitFor();
    expect(await stale.textContent()).toContain(
      "Stale prebuild: it holds commit a1b2c3d4e5f6, and the checkout was brought forward to 0f9e8d7c6b5a",
    );
    expect(await source.locator("[data-repo-commit]").textContent()).toBe("0f9e8d7c6b5a");
    await page.screenshot({ path: `${SHOTS}box-prebuild-stale.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(() => page.evaluate(() => document.documentElement.scrollWidth))
      .toBeLessThanOrEqual(390);
    await page.unrouteAll();
    expect(problems).toEqual([]);
    await ctx.close();

    // A member sees the prebuilds and their logs, but no "Prebuild now", and is told why.
    const member = await api.createUser("pia");
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/members/pia", { body: { role: "member" } })).status,
    ).toBe(200);
    const mctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await mctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), member);
    const mp = await mctx.newPage();
    const mproblems = watchPage(mp);
    await mp.goto(`${api.url}/templates/prebuilt`);
    await mp.locator(`tr[data-prebuild="${ready.id}"] [data-build="ready"]`).waitFor();
    await mp
      .getByText("You are a member here: only org owners and admins may retry builds or queue prebuilds")
      .waitFor();
    expect(await mp.getByRole("button", { name: "Prebuild now" }).count()).toBe(0);
    expect(mproblems).toEqual([]);
    await mctx.close();
    expect(
      (await api.call("POST", "/api/v1/orgs/acme/templates/prebuilt/prebuilds", { token: member, body: {} }))
        .status,
    ).toBe(403);
  });

  it("signs in through the identity provider and acts with the session cookie and CSRF header", async () => {
    await api.call("POST", "/api/v1/users", { body: { username: "carla", email: "carla@corp.example" } });
    await api.call("PUT", "/api/v1/orgs/acme/members/carla", { body: { role: "member" } });
    idp.setAccount("carla", { sub: "carla-sub", email: "carla@corp.example", email_verified: true });
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/boxes`);
    await page.getByRole("link", { name: "Sign in with your identity provider" }).click();
    for (let step = 0; step < 4 && new URL(page.url()).origin !== api.url; step++) {
      if (await page.$('input[name="login"]')) {
        await page.fill('input[name="login"]', "carla");
        await page.fill('input[name="password"]', "anything");
      }
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    }
    await page.getByRole("heading", { name: "Boxes", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/boxes");
    await page.getByText("carla", { exact: true }).waitFor();
    await page.getByRole("button", { name: "New box" }).click();
    await page.getByLabel("Name").fill("carlas");
    await page.getByRole("button", { name: "Create box" }).click();
    await page.locator('tr[data-box="carlas"] [data-state="running"]').waitFor({ timeout: 20_000 });
    expect((await api.call("GET", "/api/v1/orgs/acme/boxes/carlas")).body.owner).toBe("carla");
    await page.getByRole("button", { name: "Delete carlas" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete carlas" }).click();
    await page.locator('tr[data-box="carlas"]').waitFor({ state: "detached", timeout: 20_000 });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Boxyard" }).waitFor();
    expect((await page.request.get(`${api.url}/api/v1/users/me`)).status()).toBe(401);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it("edits behind roles: ports shared, teams and their members, the quota (site admin); a viewer gets none", async () => {
    const owner = await api.createUser("olga");
    const viewer = await api.createUser("vera");
    await api.createUser("mike");
    for (const [user, role] of [
      ["olga", "owner"],
      ["vera", "viewer"],
      ["mike", "member"],
    ])
      expect((await api.call("PUT", `/api/v1/orgs/acme/members/${user}`, { body: { role } })).status).toBe(
        200,
      );
    await api.call("POST", "/api/v1/orgs/acme/boxes", { body: { name: "shared", template: "busybox" } });
    await waitFor(
      async () => (await api.call("GET", "/api/v1/orgs/acme/boxes/shared")).body.actualState === "running",
      { timeoutMs: 20_000, message: "shared running" },
    );
    const ports = async () => (await api.call("GET", "/api/v1/orgs/acme/boxes/shared/ports")).body.items;
    const teamMembers = async () =>
      (await api.call("GET", "/api/v1/orgs/acme/teams/core/members")).body.items.map(
        (m: { username: string }) => m.username,
      );
    await mkdir(SHOTS, { recursive: true });

    // The site admin: the box list with its cost, then the box page's history and port sharing.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), api.adminToken);
    const page = await ctx.newPage();
    const problems = watchPage(page);
    await page.goto(`${api.url}/boxes`);
    await page.getByRole("columnheader", { name: /Cost/ }).waitFor();
    await expect
      .poll(() => page.locator('tr[data-box="shared"] td[data-label="Cost"]').textContent())
      .toMatch(/\$\d/);
    await page.locator('tr[data-box="shared"]').getByRole("link", { name: "shared", exact: true }).click();
    await page.getByRole("heading", { name: "History" }).waitFor();
    const history = page.locator(".events");
    await history.locator('li[data-action="box.create"]').getByText("created the box from busybox").waitFor();
    await history.locator('li[data-to="running"]').first().waitFor();
    await page.getByLabel("Port", { exact: true }).fill("8080");
    await page.getByLabel("Visible to").selectOption("public");
    await page.getByLabel("Label").fill("web");
    await page.getByRole("button", { name: "Share", exact: true }).click();
    await page.getByText("Port 8080 is now visible to anyone with the link.").waitFor();
    expect(await ports()).toEqual([
      expect.objectContaining({ port: 8080, visibility: "public", label: "web" }),
    ]);
    await page.getByRole("combobox", { name: "Who sees port 8080" }).selectOption("org");
    await page.getByText("Port 8080 is now visible to members of the org.").waitFor();
    expect(await ports()).toEqual([expect.objectContaining({ port: 8080, visibility: "org", label: "web" })]);
    await history
      .locator('li[data-action="box.port.share"]')
      .getByText("shared port 8080 with the org")
      .waitFor();
    // A process killed for lack of memory shows at once, as a failure, without a reload.
    const { id } = (await api.call("GET", "/api/v1/orgs/acme/boxes/shared")).body as { id: string };
    runtime.oomKill(id, { command: "awk", uid: 1000, rssMiB: 70 });
    await history
      .locator('li[data-kind="oom_kill"] .reason.bad')
      .getByText("(awk)")
      .waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${SHOTS}box-history-ports.png`, fullPage: true });
    // At phone width the box page, its ports and its history fit the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(() => page.evaluate(() => document.documentElement.scrollWidth))
      .toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}box-history-ports-390px.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // Teams: create one, add a member, a refusal with the server's reason, remove the member.
    await page.goto(`${api.url}/org/teams`);
    await page.getByLabel("Team name").fill("core");
    await page.getByRole("button", { name: "Create team" }).click();
    const team = page.locator('[data-team="core"]');
    await team.getByLabel("Username to add to core").fill("mike");
    await team.getByRole("button", { name: "Add to core" }).click();
    await team.locator('[data-member="mike"]').waitFor();
    expect(await teamMembers()).toEqual(["mike"]);
    await team.getByLabel("Username to add to core").fill("nobody");
    await team.getByRole("button", { name: "Add to core" }).click();
    await expect.poll(() => team.getByRole("alert").textContent()).toMatch(/not found|no user|nobody/i);
    expect(await teamMembers()).toEqual(["mike"]);
    await page.screenshot({ path: `${SHOTS}org-teams-edit.png`, fullPage: true });
    await team.getByRole("button", { name: "Remove mike from core" }).click();
    await team.locator('[data-member="mike"]').waitFor({ state: "detached" });
    expect(await teamMembers()).toEqual([]);
    // The team's own quota (org owners and admins): a share of the org's.
    await team.getByRole("spinbutton", { name: "Boxes", exact: true }).fill("2");
    await team.getByRole("button", { name: "Save quota" }).click();
    await team.getByText("The quota of core is saved.").waitFor();
    expect((await api.call("GET", "/api/v1/orgs/acme/teams/core/quota")).body.limits).toMatchObject({
      maxBoxes: 2,
      cpu: null,
    });
    await team.getByText("0 of 2").waitFor();

    // The quota: the site admin sets limits; an empty field is no limit.
    await page.getByRole("link", { name: "Quota" }).click();
    await page.getByRole("spinbutton", { name: "Boxes", exact: true }).fill("7");
    await page.getByRole("spinbutton", { name: "Memory (MiB)" }).fill("8192");
    await page.getByRole("spinbutton", { name: "CPU", exact: true }).fill("");
    await page.getByRole("button", { name: "Save quota" }).click();
    await page.getByText("The quota of acme is saved.").waitFor();
    expect((await api.call("GET", "/api/v1/orgs/acme/quota")).body.limits).toMatchObject({
      maxBoxes: 7,
      memoryMiB: 8192,
      cpu: null,
    });
    await page.getByText(/of 8192 MiB/).waitFor();
    await page.screenshot({ path: `${SHOTS}org-quota-edit.png`, fullPage: true });

    // Members: removing one asks first, then they are gone from the org (the API says so too).
    await api.createUser("rita");
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/members/rita", { body: { role: "member" } })).status,
    ).toBe(200);
    const memberNames = async () =>
      (await api.call("GET", "/api/v1/orgs/acme/members")).body.items.map(
        (m: { username: string }) => m.username,
      );
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("button", { name: "Remove rita" }).click();
    const dialog = page.getByRole("dialog", { name: "Remove rita from acme?" });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(await memberNames()).toContain("rita");
    await page.getByRole("button", { name: "Remove rita" }).click();
    await dialog.getByRole("button", { name: "Remove rita" }).click();
    await page.getByText("rita is no longer a member of acme.").waitFor();
    await page.getByRole("rowheader", { name: "rita" }).waitFor({ state: "detached" });
    expect(await memberNames()).not.toContain("rita");
    expect(problems).toEqual([]);
    await ctx.close();

    // An org owner who is not a site admin reads the quota but is told who may change it.
    const octx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await octx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), owner);
    const op = await octx.newPage();
    await op.goto(`${api.url}/org/quota`);
    await op.getByText("Only a site admin may change quotas").waitFor();
    expect(await op.getByRole("button", { name: "Save quota" }).count()).toBe(0);
    await octx.close();

    // A viewer: no edit is offered, each place says why, and the API refuses the same edits.
    const vctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await vctx.addInitScript((t) => sessionStorage.setItem("boxyard.token", t), viewer);
    const vp = await vctx.newPage();
    const vproblems = watchPage(vp);
    await vp.goto(`${api.url}/boxes`);
    await vp.locator('tr[data-box="shared"]').waitFor();
    expect(await vp.getByRole("columnheader", { name: /Cost/ }).count()).toBe(0);
    expect(await vp.locator('tr[data-box="shared"]').getByRole("button").count()).toBe(0);
    await vp.goto(`${api.url}/boxes/acme/shared`);
    await vp
      .getByText("You are a viewer here: only its owner and the org's owners and admins may share")
      .waitFor();
    await vp.locator('.events li[data-action="box.port.share"]').first().waitFor();
    expect(await vp.getByRole("button", { name: "Share", exact: true }).count()).toBe(0);
    expect(await vp.getByRole("button", { name: "Stop shared" }).count()).toBe(0);
    expect(await vp.getByRole("link", { name: "Open terminal" }).count()).toBe(0);
    await vp.getByRole("cell", { name: "members of the org" }).waitFor();
    await vp.screenshot({ path: `${SHOTS}box-viewer.png`, fullPage: true });
    await vp.goto(`${api.url}/org/teams`);
    await vp.getByText("You are a viewer here: only org owners and admins may create teams").waitFor();
    expect(await vp.getByRole("button", { name: "Create team" }).count()).toBe(0);
    await vp.goto(`${api.url}/org/members`);
    await vp.getByText("You are a viewer here: only org owners and admins may add members").waitFor();
    expect(await vp.getByRole("button", { name: /^Remove / }).count()).toBe(0);
    expect(vproblems).toEqual([]);
    await vctx.close();
    const as = { token: viewer };
    expect(
      (
        await api.call("PUT", "/api/v1/orgs/acme/boxes/shared/ports/8080", {
          ...as,
          body: { visibility: "public" },
        })
      ).status,
    ).toBe(403);
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/teams/core/members/mike", { ...as, body: {} })).status,
    ).toBe(403);
    expect(
      (await api.call("POST", "/api/v1/orgs/acme/teams", { ...as, body: { name: "mine" } })).status,
    ).toBe(403);
    expect(
      (await api.call("PUT", "/api/v1/orgs/acme/quota", { token: owner, body: { maxBoxes: 99 } })).status,
    ).toBe(403);
    expect(await ports()).toEqual([expect.objectContaining({ visibility: "org" })]);
    expect((await api.call("GET", "/api/v1/orgs/acme/quota")).body.limits.maxBoxes).toBe(7);
  });
});
