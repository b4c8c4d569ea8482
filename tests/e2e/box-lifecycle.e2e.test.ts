// A box end to end, the way a person uses Boxyard: the built server as its
// own process (private PostgreSQL, real gVisor runtime, real box network),
// the `boxyard` CLI, plain OpenSSH through the gateway, and the browser
// terminal in Debian's Chromium. Ends with a leak census.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, waitFor } from "@boxyard/testkit";
import { launchChromium } from "@boxyard/testkit/browser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../apps/server/src/testing/server-process.ts";
import { expectNodeClean, runscRoot, startTestServer, type TestServer } from "./kit.ts";

const run = promisify(execFile);
const NODE = { prefix: "bye2e", subnet: "10.216.0.0/24" };

let t: TestServer;
const ok = (args: string[], opts: { input?: string } = {}) => t.ok(args, opts);
const cli = (args: string[], opts: { input?: string } = {}) => t.cli(args, opts);

beforeAll(async () => {
  t = await startTestServer({ name: "e2e", node: NODE });
}, 180_000);

afterAll(async () => {
  // Whatever a failed test left: boxes, then the node network of this test.
  await t?.release();
}, 120_000);

describe("a box's life through the CLI, SSH and the browser", () => {
  it("creates a busybox box and waits for it, showing progress", async () => {
    const r = await ok(["create", "web", "--template", "busybox", "--wait"]);
    expect(r.stderr).toMatch(/web: running/);
    const ls = JSON.parse((await ok(["ls", "--json"])).stdout);
    expect(ls).toEqual([
      expect.objectContaining({ name: "web", actualState: "running", desiredState: "running" }),
    ]);
    const table = (await ok(["ls"])).stdout;
    expect(table).toMatch(/^NAME\s+STATE\s+TEMPLATE\s+AGE\s+NODE\s+OWNER\s+COST/);
    // The admin may read the org's usage, so the box has a cost so far (a few seconds: \$0.00).
    expect(table).toMatch(/web\s+running.*\$0\.00/);
    // The node's work and the box's usage are visible to Prometheus.
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    expect(metrics).toMatch(
      /boxyard_runtime_operation_seconds_count\{driver="gvisor",operation="start",result="ok"\} 1/,
    );
    expect(metrics).toMatch(new RegExp(`boxyard_box_memory_bytes\\{box="${ls[0].id}"\\} [1-9]`));
  });

  it("runs commands in the box as dev in /home/dev (exec)", async () => {
    const r = await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "id -u; pwd; echo persisted > /home/dev/note; echo root-change > /tmp/t",
    ]);
    expect(r.stdout).toBe("1000\n/home/dev\n");
    const fail = await cli(["exec", "web", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    expect(fail).toMatchObject({ code: 3, stderr: "oops\n" });
  });

  it("reaches the box with OpenSSH through the gateway (boxyard ssh)", async () => {
    const r = await ok(["ssh", "web", "--", "cat", "/home/dev/note"]);
    expect(r.stdout).toBe("persisted\n");
    const piped = await ok(["ssh", "web", "--", "wc", "-c"], { input: "x".repeat(100_000) });
    expect(piped.stdout.trim()).toBe("100000");
    // Session setup time and open sessions are visible to Prometheus.
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    expect(metrics).toMatch(/boxyard_gateway_session_setup_seconds_count\{kind="exec"\} [1-9]/);
    expect(metrics).toMatch(/boxyard_gateway_sessions\{kind="exec"\} 0/);
  });

  it("writes ssh config so plain `ssh boxyard.web` works", async () => {
    const cfg = join(t.home, ".ssh", "config");
    await ok(["config-ssh", "--ssh-config", cfg]);
    expect(await readFile(cfg, "utf8")).toContain("Host boxyard.web");
    const { stdout } = await run("ssh", [
      "-F",
      cfg,
      "-o",
      "BatchMode=yes",
      "boxyard.web",
      "echo",
      "via-config",
    ]);
    expect(stdout).toBe("via-config\n");
  });

  it("gives an interactive shell with a pty over OpenSSH (driven in tmux): window size, TERM and exit status", async () => {
    const cfg = join(t.home, ".ssh", "config");
    const session = `byssh${process.pid}`;
    const exitFile = join(t.dataDir, "pty-exit");
    const tmux = (...args: string[]) => run("tmux", ["-L", session, ...args]);
    await tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "97",
      "-y",
      "31",
      `TERM=xterm-256color ssh -tt -F ${cfg} -o BatchMode=yes boxyard.web; echo $? > ${exitFile}`,
    );
    try {
      const screen = () => tmux("capture-pane", "-p", "-t", session).then((r) => r.stdout);
      await waitFor(async () => /\$ *$/m.test(await screen()), {
        timeoutMs: 30_000,
        message: "the box's prompt",
      });
      await tmux(
        "send-keys",
        "-t",
        session,
        'stty size; [ -t 0 ] && echo "term=$TERM on-a-terminal"',
        "Enter",
      );
      await waitFor(async () => /term=xterm-256color on-a-terminal/.test(await screen()), {
        timeoutMs: 15_000,
        message: "the command's output",
      }).catch(async (err) => {
        throw new Error(`${(err as Error).message}; the screen:\n${await screen()}`);
      });
      expect(await screen()).toMatch(/^31 97$/m);
      await tmux("send-keys", "-t", session, "exit 3", "Enter");
      const code = await waitFor(
        async () => (await readFile(exitFile, "utf8").catch(() => "")).trim() || undefined,
        {
          timeoutMs: 15_000,
          message: "ssh to exit",
        },
      );
      expect(code).toBe("3");
    } finally {
      await tmux("kill-server").catch(() => {});
    }
  });

  it("forwards a port to a server inside the box (ssh -L)", async () => {
    await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "mkdir -p /home/dev/www && echo hello-preview > /home/dev/www/index.html",
    ]);
    await ok(["exec", "web", "--", "sh", "-c", "httpd -p 127.0.0.1:8080 -h /home/dev/www"]);
    const cfg = join(t.home, ".ssh", "config");
    const localPort = await freePort();
    const fwd = spawn("ssh", [
      "-F",
      cfg,
      "-o",
      "BatchMode=yes",
      "-N",
      "-L",
      `127.0.0.1:${localPort}:127.0.0.1:8080`,
      "boxyard.web",
    ]);
    try {
      const body = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${localPort}/index.html`).catch(() => undefined);
          return res?.ok ? res.text() : undefined;
        },
        { timeoutMs: 30_000, message: "the forwarded port" },
      );
      expect(body).toBe("hello-preview\n");
    } finally {
      fwd.kill("SIGTERM");
    }
  });

  it("previews the port over HTTP at /preview/ORG/BOX/PORT, only for people allowed on the box", async () => {
    const url = `${t.server.url}/preview/acme/web/8080/index.html`;
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${t.token}`, cookie: "boxyard_session=secret; app=1" },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello-preview\n");
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    expect((await fetch(url)).status).toBe(401);
    // Someone from outside the org gets the same answer as for a box that does not exist.
    const admin = { authorization: `Bearer ${t.token}`, "content-type": "application/json" };
    await fetch(`${t.server.url}/api/v1/users`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ username: "eve" }),
    });
    const eve = await fetch(`${t.server.url}/api/v1/users/eve/tokens`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "t" }),
    }).then((r) => r.json() as Promise<{ token: string }>);
    expect((await fetch(url, { headers: { authorization: `Bearer ${eve.token}` } })).status).toBe(404);
    const nothing = await fetch(`${t.server.url}/preview/acme/web/8081/`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    expect(nothing.status).toBe(502);

    // Shared with anyone who has the link, then private again.
    await ok(["ports", "share", "web", "8080", "--public"]);
    expect(JSON.parse((await ok(["ports", "ls", "web", "--json"])).stdout)).toEqual([
      expect.objectContaining({ port: 8080, visibility: "public", previewPath: "/preview/acme/web/8080/" }),
    ]);
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.text()).toBe("hello-preview\n");
    await ok(["ports", "share", "web", "8080", "--org-wide"]);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${eve.token}` } })).status).toBe(404);
    await ok(["ports", "share", "web", "8080", "--private"]);
    expect(JSON.parse((await ok(["ports", "ls", "web", "--json"])).stdout)).toEqual([]);
    expect((await fetch(url)).status).toBe(401);
  });

  it("relays WebSocket upgrades on a preview to the box's port, with the same access rules", async () => {
    const script = readFileSync(join(REPO_ROOT, "tests/e2e/testdata/ws-server.sh"), "utf8");
    await ok(["ssh", "web", "--", "cat > /home/dev/ws.sh && chmod +x /home/dev/ws.sh"], {
      input: script,
    });
    await ok(["exec", "web", "--", "sh", "-c", "nohup nc -ll -p 9000 -e /home/dev/ws.sh >/dev/null 2>&1 &"]);
    const { default: WebSocket } = await import("ws");
    const wsUrl = `${t.server.url.replace("http", "ws")}/preview/acme/web/9000/socket`;
    const talk = (headers: Record<string, string>) =>
      new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const ws = new WebSocket(wsUrl, { headers });
        ws.on("message", (d) => {
          got.push(d.toString());
          if (got.length === 1) ws.send("x");
          if (got.length === 2) {
            ws.close();
            resolve(got);
          }
        });
        ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        ws.on("error", reject);
      });
    const messages = await waitFor(
      () => talk({ authorization: `Bearer ${t.token}` }).catch(() => undefined),
      {
        timeoutMs: 20_000,
        message: "the WebSocket through the preview",
      },
    );
    expect(messages).toEqual(["hello", "got-it"]);
    await expect(talk({})).rejects.toThrow("HTTP 401");
    await expect(
      talk({ authorization: `Bearer ${t.token}`, origin: "https://evil.example" }),
    ).rejects.toThrow("HTTP 403");
  });

  it("runs a shell in the browser terminal (Chromium)", async () => {
    const { browser, close } = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
      await page.addInitScript((tok) => localStorage.setItem("boxyard.token", tok), t.token);
      await page.goto(`${t.server.url}/boxes/acme/web/terminal`);
      await page.waitForSelector("text=Connected to web.", { timeout: 30_000 });
      await page.click("#terminal");
      await page.keyboard.type("echo hello-from-$((6*7))-browser\n");
      await page.waitForSelector("text=hello-from-42-browser", { timeout: 30_000 });
      await mkdir(join(REPO_ROOT, "test-artifacts"), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, "test-artifacts", "browser-terminal.png") });
    } finally {
      await close();
    }
  });

  it("keeps a process through pause and resume (same PID)", async () => {
    await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "nohup sleep 100000 >/dev/null 2>&1 & echo $! > /home/dev/sleeper.pid",
    ]);
    const pid = (await ok(["exec", "web", "--", "cat", "/home/dev/sleeper.pid"])).stdout.trim();
    await ok(["pause", "web", "--wait"]);
    expect(JSON.parse((await ok(["show", "web", "--json"])).stdout).actualState).toBe("paused");
    await ok(["resume", "web", "--wait"]);
    const alive = await ok(["exec", "web", "--", "sh", "-c", `kill -0 ${pid} && echo alive`]);
    expect(alive.stdout).toBe("alive\n");
  });

  it("pauses cold on request: the sandbox is checkpointed to disk and ends, and resume restores the same processes", async () => {
    await ok(["create", "cold", "--template", "busybox", "--wait"]);
    await ok([
      "exec",
      "cold",
      "--",
      "sh",
      "-c",
      "nohup sleep 100000 >/dev/null 2>&1 & echo $! > /home/dev/sleeper.pid",
    ]);
    const pid = (await ok(["exec", "cold", "--", "cat", "/home/dev/sleeper.pid"])).stdout.trim();
    const id = JSON.parse((await ok(["show", "cold", "--json"])).stdout).id as string;
    const root = `--root=${runscRoot(t.dataDir)}`;
    const sandboxStatus = async () => {
      // runsc prints "null" when it has no sandboxes at all.
      const list = (JSON.parse((await run("runsc", [root, "list", "-format=json"])).stdout || "[]") ??
        []) as Array<{
        id: string;
        status: string;
      }>;
      return list.find((c) => c.id === id)?.status ?? "gone";
    };
    expect(await sandboxStatus()).toBe("running");
    await ok(["pause", "cold", "--cold", "--wait"]);
    await waitFor(async () => ["gone", "stopped"].includes(await sandboxStatus()), {
      timeoutMs: 60_000,
      message: "the sandbox to be checkpointed and end",
    });
    expect(JSON.parse((await ok(["show", "cold", "--json"])).stdout).actualState).toBe("paused");
    // The resume, then at once a command that waits for the box (exec --wait): it runs in the restored box.
    await ok(["resume", "cold"]);
    const alive = await ok([
      "exec",
      "cold",
      "--wait",
      "60",
      "--",
      "sh",
      "-c",
      `kill -0 ${pid} && echo alive`,
    ]);
    expect(alive.stdout).toBe("alive\n");
    expect(await sandboxStatus()).toBe("running");
    await ok(["rm", "cold", "--wait"]);
  });

  it("wakes a paused box when someone connects over SSH", async () => {
    await ok(["pause", "web", "--wait"]);
    const r = await ok(["ssh", "web", "--", "echo", "woke"]);
    expect(r.stdout).toBe("woke\n");
    expect(r.stderr).toContain("Resuming web");
    expect(JSON.parse((await ok(["show", "web", "--json"])).stdout).actualState).toBe("running");
  });

  it("keeps files across stop and start", async () => {
    await ok(["stop", "web", "--wait"]);
    const stopped = await cli(["exec", "web", "--", "true"]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain("not running");
    await ok(["start", "web", "--wait"]);
    expect((await ok(["exec", "web", "--", "cat", "/home/dev/note"])).stdout).toBe("persisted\n");
    const show = (await ok(["show", "web"])).stdout;
    expect(show).toContain("What persists");
  });

  it("boots a stopped box on SSH connect when its template says so (busybox does)", async () => {
    await ok(["stop", "web", "--wait"]);
    const r = await ok(["ssh", "web", "--", "cat", "/home/dev/note"]);
    expect(r.stdout).toBe("persisted\n");
    expect(r.stderr).toContain("Starting web");
    expect(JSON.parse((await ok(["show", "web", "--json"])).stdout).actualState).toBe("running");
  });

  it("keeps the box running through a server SIGKILL and re-adopts it on restart (D1)", async () => {
    await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "nohup sleep 100000 >/dev/null 2>&1 & echo $! > /home/dev/survivor.pid",
    ]);
    const pid = (await ok(["exec", "web", "--", "cat", "/home/dev/survivor.pid"])).stdout.trim();
    const root = `--root=${runscRoot(t.dataDir)}`;
    const before = (await run("runsc", [root, "list", "-format=json"])).stdout;

    t.server.child.kill("SIGKILL");
    await t.server.exited;
    // The sandbox is not a child of the server: still there, same sandbox.
    expect((await run("runsc", [root, "list", "-format=json"])).stdout).toBe(before);

    await t.restart();
    const box = JSON.parse((await ok(["show", "web", "--json"])).stdout);
    expect(box.actualState).toBe("running");
    // The same processes: re-adopted, not restarted.
    expect((await ok(["exec", "web", "--", "sh", "-c", `kill -0 ${pid} && echo same`])).stdout).toBe(
      "same\n",
    );
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toHaveLength(1);
  });

  // The first Debian box on a machine builds the image (mmdebstrap, about 90 s): a longer timeout.
  it("copies 50 MB both ways with scp and sftp to a Debian box (checksums match)", async () => {
    await ok(["create", "deb", "--template", "debian", "--wait"]);
    const cfg = join(t.home, ".ssh", "config");
    await ok(["config-ssh", "--ssh-config", cfg]);
    const payload = join(t.dataDir, "payload.bin");
    await run("sh", ["-c", `head -c 52428800 /dev/urandom > ${payload}`]);
    const local = (await run("sha256sum", [payload])).stdout.split(" ")[0];
    await run("scp", ["-F", cfg, "-q", payload, "boxyard.deb:payload.bin"], { maxBuffer: 1 << 20 });
    const remote = (await ok(["exec", "deb", "--", "sha256sum", "/home/dev/payload.bin"])).stdout.split(
      " ",
    )[0];
    expect(remote).toBe(local);
    const back = join(t.dataDir, "back.bin");
    const batch = join(t.dataDir, "sftp-batch");
    await writeFile(batch, `get payload.bin ${back}\n`);
    await run("sftp", ["-F", cfg, "-q", "-b", batch, "boxyard.deb"]);
    expect((await run("sha256sum", [back])).stdout.split(" ")[0]).toBe(local);
    // rsync over the gateway (rsync -e ssh), both ways.
    const tree = join(t.dataDir, "tree");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "a.txt"), "alpha\n");
    await writeFile(join(tree, "sub", "b.txt"), "beta\n");
    await run("rsync", ["-a", "-e", `ssh -F ${cfg}`, `${tree}/`, "boxyard.deb:tree/"]);
    expect((await ok(["exec", "deb", "--", "cat", "/home/dev/tree/sub/b.txt"])).stdout).toBe("beta\n");
    const pulled = join(t.dataDir, "pulled");
    await run("rsync", ["-a", "-e", `ssh -F ${cfg}`, "boxyard.deb:tree/", `${pulled}/`]);
    expect(await readFile(join(pulled, "a.txt"), "utf8")).toBe("alpha\n");
  }, 300_000);

  it("does what VS Code Remote-SSH does: installs a server over `ssh bash`, then reaches it through -D and -L", async () => {
    // Remote-SSH runs `ssh -T -D PORT host bash`, writes an install script to
    // its stdin (server under ~/.vscode-server, started in the background,
    // "listeningOn==PORT==" printed), keeps that session open, and talks to
    // the server through the SOCKS forward. JetBrains Gateway does the same
    // with -L. A Perl server stands in for the real one (no downloads here).
    const cfg = join(t.home, ".ssh", "config");
    const socks = await freePort();
    const install = [
      "set -e",
      'dir="$HOME/.vscode-server/bin/0123abcd"',
      'mkdir -p "$dir"',
      `cat > "$dir/server.pl" <<'PERL'`,
      "use IO::Socket::INET;",
      "my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1) or die $!;",
      "open(my $f, '>', \"$ENV{HOME}/.vscode-server/port.tmp\"); print $f $s->sockport; close $f;",
      'rename("$ENV{HOME}/.vscode-server/port.tmp", "$ENV{HOME}/.vscode-server/port");',
      'while (my $c = $s->accept) { my $r = <$c>; print $c "HTTP/1.0 200 OK\\r\\n\\r\\nvscode-server-mimic $ENV{USER} $ENV{HOME}\\n"; close $c; }',
      "PERL",
      'nohup perl "$dir/server.pl" > "$dir/log" 2>&1 < /dev/null &',
      "for i in $(seq 1 100); do [ -s ~/.vscode-server/port ] && break; sleep 0.1; done",
      'echo "listeningOn==$(cat ~/.vscode-server/port)=="',
      "",
    ].join("\n");
    const remote = spawn("ssh", [
      "-F",
      cfg,
      "-o",
      "BatchMode=yes",
      "-T",
      "-D",
      `127.0.0.1:${socks}`,
      "boxyard.deb",
      "bash",
    ]);
    let out = "";
    remote.stdout.on("data", (d) => {
      out += d;
    });
    remote.stdin.write(install);
    try {
      const port = await waitFor(() => /listeningOn==(\d+)==/.exec(out)?.[1], {
        timeoutMs: 30_000,
        message: "the server's port on the install session",
      });
      const viaSocks = await run("curl", [
        "-sS",
        "--max-time",
        "20",
        "--socks5-hostname",
        `127.0.0.1:${socks}`,
        `http://127.0.0.1:${port}/`,
      ]);
      expect(viaSocks.stdout).toBe("vscode-server-mimic dev /home/dev\n");
      const local = await freePort();
      const fwd = spawn("ssh", [
        "-F",
        cfg,
        "-o",
        "BatchMode=yes",
        "-N",
        "-L",
        `127.0.0.1:${local}:127.0.0.1:${port}`,
        "boxyard.deb",
      ]);
      try {
        const body = await waitFor(
          async () => {
            const res = await fetch(`http://127.0.0.1:${local}/`).catch(() => undefined);
            return res?.ok ? res.text() : undefined;
          },
          { timeoutMs: 30_000, message: "the -L forward" },
        );
        expect(body).toBe("vscode-server-mimic dev /home/dev\n");
      } finally {
        fwd.kill("SIGTERM");
      }
    } finally {
      remote.stdin.end();
      remote.kill("SIGTERM");
    }
    await ok(["rm", "deb", "--wait"]);
  });

  it("deletes the box and leaves nothing behind on the node", async () => {
    await ok(["rm", "web", "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
  });

  it("stops cleanly on SIGTERM", async () => {
    t.server.child.kill("SIGTERM");
    expect(await t.server.exited).toBe(0);
  });
});
