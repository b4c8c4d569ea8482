// The outage rule with the roles split across processes, as a platform team
// runs Boxyard: a control plane (`--role control`, external PostgreSQL), a
// node agent (`--role agent`) and a gateway (`--role gateway`) on the box
// machine, talking over HTTP only. The control plane and then the agent are
// killed with SIGKILL while an OpenSSH session and a browser terminal (real
// Chromium) are open: both keep echoing, a new SSH login still works from the
// gateway's cache, the box keeps running, and after restarts the box is
// re-adopted and the session audit events the gateway held are delivered.
// Test-catalogue D1, D2. Ends with a leak census.
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createTestDatabase, waitFor } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  REPO_ROOT,
  type ServerProcess,
  startServerProcess,
} from "../../apps/server/src/testing/server-process.ts";
import { cliRunner, expectNodeClean, nodeEnv, runscRoot } from "./kit.ts";
import { releaseTestNode } from "./node-cleanup.ts";

const run = promisify(execFile);
const NODE = { prefix: "bysp", subnet: "10.218.0.0/24" };
const NODE_ENV = { ...nodeEnv(NODE), BOXYARD_NODE_NAME: "split-node" };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let controlDir: string;
let nodeDir: string;
let home: string;
let token: string;
let control: ServerProcess;
let agent: ServerProcess;
let gateway: ServerProcess;
const all: ServerProcess[] = [];
let controlKilledAt = 0;

async function startControl(): Promise<ServerProcess> {
  const p = await startServerProcess({
    dataDir: controlDir,
    args: ["--role", "control", "--database-url", db.url],
    // The agent and the gateway keep the control plane's address across its restart.
    ...(control ? { port: Number(new URL(control.url).port) } : {}),
  });
  all.push(p);
  return p;
}

async function startAgent(): Promise<ServerProcess> {
  const p = await startServerProcess({
    dataDir: nodeDir,
    args: ["--role", "agent", "--control-url", control.url],
    env: { ...NODE_ENV, BOXYARD_CONTROL_TOKEN: token },
  });
  all.push(p);
  return p;
}

const { ok } = cliRunner(() => ({ url: control.url, token, home }));

/** An SSH session that answers every line it reads with `got:LINE`. */
class EchoSession {
  readonly child: ChildProcessWithoutNullStreams;
  #out = "";
  constructor(cfg: string) {
    this.child = spawn("ssh", [
      "-F",
      cfg,
      "-o",
      "BatchMode=yes",
      "boxyard.web",
      'while read -r l; do echo "got:$l"; done',
    ]);
    this.child.stdout.on("data", (d) => {
      this.#out += d;
    });
  }
  async roundTrip(word: string): Promise<void> {
    this.child.stdin.write(`${word}\n`);
    await waitFor(() => this.#out.includes(`got:${word}\n`), {
      timeoutMs: 15_000,
      message: `the SSH session to echo ${word}`,
    });
  }
}

beforeAll(async () => {
  await ensureBuilt();
  db = await createTestDatabase();
  const root = await mkdtemp(join(tmpdir(), "boxyard-split-"));
  controlDir = join(root, "control");
  nodeDir = join(root, "node");
  home = join(root, "home");
  await mkdir(home);
  control = await startControl();
  token = (await readFile(join(controlDir, "admin-token"), "utf8")).trim();
  agent = await startAgent();
  gateway = await startServerProcess({
    dataDir: nodeDir,
    args: ["--role", "gateway", "--control-url", control.url],
    env: { ...NODE_ENV, BOXYARD_CONTROL_TOKEN: token },
  });
  all.push(gateway);
  await ok(["orgs", "create", "acme"]);
}, 180_000);

afterAll(async () => {
  for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  for (const p of all) await p.exited;
  await releaseTestNode({ dataDir: nodeDir, prefix: NODE.prefix, subnet: NODE.subnet });
  await rm(join(controlDir, ".."), { recursive: true, force: true });
  await db?.drop();
}, 120_000);

describe("control plane, agent and gateway as separate processes", () => {
  let cfg: string;
  let session: EchoSession;

  it("runs a box through the remote agent and reaches it through the remote gateway", async () => {
    const r = await ok(["create", "web", "--template", "busybox", "--wait"]);
    expect(r.stderr).toMatch(/web: running/);
    // exec travels control plane -> database -> the agent's command poll -> runsc, and back.
    const ran = await ok(["exec", "web", "--", "sh", "-c", "id -u; hostname"]);
    expect(ran.stdout).toBe("1000\nweb\n");
    const nodes = JSON.parse((await ok(["nodes", "--json"])).stdout);
    expect(nodes).toEqual([expect.objectContaining({ name: "split-node" })]);
    // The control plane sends SSH clients to the gateway that registered.
    const info = await (
      await fetch(`${control.url}/api/v1/info`, { headers: { authorization: `Bearer ${token}` } })
    ).json();
    expect(info.sshGateway).toMatchObject({ host: "127.0.0.1" });
    cfg = join(home, ".ssh", "config");
    await ok(["config-ssh", "--ssh-config", cfg]);
    const { stdout } = await run("ssh", ["-F", cfg, "-o", "BatchMode=yes", "boxyard.web", "echo", "hi"]);
    expect(stdout).toBe("hi\n");
    session = new EchoSession(cfg);
    await session.roundTrip("before");
  });

  it("serves port previews from the control plane through the gateway's relay", async () => {
    await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "mkdir -p /home/dev/www && echo split-preview > /home/dev/www/index.html",
    ]);
    await ok(["exec", "web", "--", "sh", "-c", "httpd -p 127.0.0.1:8080 -h /home/dev/www"]);
    const url = `${control.url}/preview/acme/web/8080/index.html`;
    const res = await waitFor(
      async () => {
        const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 20_000, message: "the preview through the relay" },
    );
    expect(await res.text()).toBe("split-preview\n");
    expect((await fetch(url)).status).toBe(401);
    // The relay itself takes nothing without a ticket the control plane signed.
    const gwUrl = `http://127.0.0.1:${new URL(gateway.url).port}`;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gwUrl}/_boxyard/relay?ticket=forged`, {
        headers: { connection: "Upgrade", upgrade: "boxyard-relay" },
      });
      req.on("response", (r) => resolve(r.statusCode ?? 0));
      req.on("upgrade", () => reject(new Error("the relay accepted a forged ticket")));
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(401);
  });

  it("keeps SSH and browser sessions, and new SSH logins, through a control-plane SIGKILL (D1)", async () => {
    const { browser, close } = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.addInitScript((t) => localStorage.setItem("boxyard.token", t), token);
      await page.goto(`${control.url}/boxes/acme/web/terminal`);
      await page.waitForSelector("text=Connected to web.", { timeout: 30_000 });
      await page.click("#terminal");
      await page.keyboard.type("echo before-$((6*7))-kill\n");
      await page.waitForSelector("text=before-42-kill", { timeout: 30_000 });

      controlKilledAt = Date.now();
      control.child.kill("SIGKILL");
      await control.exited;
      expect((await fetch(`${control.url}/healthz`).catch(() => null))?.status).toBeUndefined();

      await session.roundTrip("after-control-kill");
      await page.keyboard.type("echo after-$((6*7))-kill\n");
      await page.waitForSelector("text=after-42-kill", { timeout: 30_000 });
      await page.screenshot({ path: join(REPO_ROOT, "test-artifacts", "terminal-through-outage.png") });
      // A new login to the running box, answered from the gateway's cache.
      const { stdout } = await run("ssh", [
        "-F",
        cfg,
        "-o",
        "BatchMode=yes",
        "boxyard.web",
        "echo",
        "new-login",
      ]);
      expect(stdout).toBe("new-login\n");
    } finally {
      await close();
    }
  }, 120_000);

  it("keeps the box and the SSH session through an agent SIGKILL too (D2)", async () => {
    const root = `--root=${runscRoot(nodeDir)}`;
    const before = (await run("runsc", [root, "list", "-format=json"])).stdout;
    agent.child.kill("SIGKILL");
    await agent.exited;
    expect((await run("runsc", [root, "list", "-format=json"])).stdout).toBe(before);
    await session.roundTrip("after-agent-kill");
  });

  it("re-adopts the box after restarts and delivers the session events the gateway held", async () => {
    control = await startControl();
    agent = await startAgent();
    const box = JSON.parse((await ok(["show", "web", "--json"])).stdout);
    expect(box.actualState).toBe("running");
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toHaveLength(1);
    await session.roundTrip("after-restart");
    // The login made during the outage reaches the audit log once the control plane is back.
    const audit = await waitFor(
      async () => {
        const res = await fetch(`${control.url}/api/v1/orgs/acme/audit?action=box.session.open`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const items = (await res.json()).items as Array<{ at: string; details: { kind: string } }>;
        return items.some((e) => new Date(e.at).getTime() > controlKilledAt) ? items : undefined;
      },
      { timeoutMs: 30_000, message: "the session events held through the outage" },
    );
    expect(audit.filter((e) => new Date(e.at).getTime() > controlKilledAt)).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ kind: "exec" }) }),
    ]);
  }, 120_000);

  it("deletes the box and leaves nothing behind on the node", async () => {
    session.child.kill("SIGTERM");
    await ok(["rm", "web", "--wait"]);
    await expectNodeClean({ dataDir: nodeDir, prefix: NODE.prefix });
  }, 60_000);
});
