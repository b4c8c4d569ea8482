// The Debian base image in a real gVisor box: built once with mmdebstrap
// (cached across runs in BOXYARD_IMAGE_CACHE, default
// /var/cache/boxyard/images, because a build takes about a minute), then
// `git`, passwordless `sudo` (boxinit's sudo mode, boxinit.c: without a
// terminal, and on one with a terminal of its own) and the root listing as
// the `dev` user.

import { mkdir } from "node:fs/promises";
import { buildDebianLayer, LayerStore } from "@boxyard/images";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Session } from "../runtime.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { hostCommand } from "./host-command.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

const cacheDir = process.env.BOXYARD_IMAGE_CACHE ?? "/var/cache/boxyard/images";
let node: TestNode;
let rt: GvisorRuntime;
let debian = "";
const id = `deb${process.pid}`;

beforeAll(async () => {
  await mkdir(cacheDir, { recursive: true });
  const store = new LayerStore({ root: cacheDir });
  debian = await buildDebianLayer(store);
  node = await createTestNode({ layerStore: store });
  rt = node.runtime();
}, 600_000);

afterAll(async () => {
  await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

describe("debian base image", () => {
  it("builds reproducibly from the cache and runs git as dev in a gvisor box", async () => {
    // A second build of the same spec is a cache hit: same digest, and
    // mmdebstrap never runs (it would log its progress lines).
    const log: string[] = [];
    expect(await buildDebianLayer(node.store, { onLog: (l) => log.push(l) })).toBe(debian);
    expect(log).toEqual([expect.stringMatching(/^cache hit: /)]);

    await rt.prepare(node.spec(id, { layers: [debian] }));
    await rt.start(id);
    const r = await rt.exec(id, { command: ["bash", "-lc", "git --version; ls /; id; pwd"] });
    const out = r.stdout.toString();
    expect(out).toMatch(/^git version 2\.\d+/m);
    expect(out).toMatch(/^workspace$/m);
    expect(out).toMatch(/uid=1000\(dev\) gid=1000\(dev\)/);
    expect(out).toMatch(/^\/home\/dev$/m);
    expect(r.exitCode).toBe(0);
    // The image's home skeleton was copied into the persistent volume.
    const home = await rt.exec(id, { command: ["ls", "-a", "/home/dev"] });
    expect(home.stdout.toString()).toMatch(/\.bashrc/);
    // sudo is installed and dev may use it without a password (sudoers.d/dev).
    const sudoers = await rt.exec(id, { command: ["cat", "/etc/sudoers.d/dev"], user: "root" });
    expect(sudoers.stdout.toString()).toBe("dev ALL=(ALL:ALL) NOPASSWD: ALL\n");
    // What the SSH gateway's sftp/scp and IDE servers need.
    const tools = await rt.exec(id, {
      command: ["sh", "-c", "test -x /usr/lib/openssh/sftp-server && ps -p 1 -o comm="],
    });
    expect(tools.exitCode, tools.stderr.toString()).toBe(0);
  });

  it("sudo works for dev as the image's NOPASSWD rule says: root, env_reset, stdin, exit status, signals", async () => {
    const sh = (script: string, opts: { user?: "root"; stdin?: string } = {}) =>
      rt.exec(id, {
        command: ["bash", "-lc", script],
        ...(opts.user ? { user: opts.user } : {}),
        ...(opts.stdin !== undefined ? { stdin: Buffer.from(opts.stdin) } : {}),
      });
    const r = await sh(
      "sudo -n true && echo sudo-ok; sudo id -u; sudo sh -c 'echo $HOME $USER $SUDO_USER $SUDO_UID'",
    );
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe("sudo-ok\n0\n/root root dev 1000\n");
    // A root-only change sticks; the command reads the caller's stdin; the exit status comes back.
    const w = await sh(
      "echo hello | sudo tee /etc/boxyard-sudo-test >/dev/null; sudo -u root cat /etc/boxyard-sudo-test; ls -l /etc/boxyard-sudo-test | cut -d' ' -f3; sudo sh -c 'exit 7'; echo status=$?",
    );
    expect(w.stdout.toString()).toBe("hello\nroot\nstatus=7\n");
    // -E keeps the caller's environment; -i starts root's login shell in /root.
    const e = await sh("FOO=bar sudo -E sh -c 'echo $FOO'; FOO=bar sudo sh -c 'echo [$FOO]'; sudo -i pwd");
    expect(e.stdout.toString()).toBe("bar\n[]\n/root\n");
    // A signal to sudo reaches the command (here: TERM ends a sleeping root process).
    const sig = await sh(
      "sudo sleep 30 & pid=$!; sleep 1; kill -TERM $pid; wait $pid; echo status=$?; sudo pgrep -x sleep || echo no-sleep",
    );
    expect(sig.stdout.toString()).toBe("status=143\nno-sleep\n");
    // Another user gets what sudo says without a rule; -u other than root is refused.
    await sh("useradd -m guest", { user: "root" });
    const guest = await sh("su guest -s /bin/sh -c 'sudo true'; echo status=$?", { user: "root" });
    expect(guest.stderr.toString()).toMatch(/guest is not in the sudoers file/);
    expect(guest.stdout.toString()).toBe("status=1\n");
    const other = await sh("sudo -u guest true");
    expect(other.exitCode).toBe(1);
    expect(other.stderr.toString()).toMatch(/only root can be the target user/);
    // A rule that wants a password is no rule here; a rule file dev could edit is ignored.
    await sh("echo 'guest ALL=(ALL:ALL) ALL' > /etc/sudoers.d/guest; chmod 440 /etc/sudoers.d/guest", {
      user: "root",
    });
    const pw = await sh("su guest -s /bin/sh -c 'sudo true'", { user: "root" });
    expect(pw.stderr.toString()).toMatch(/a password is required/);
    await sh(
      "echo 'guest ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/guest; chown guest /etc/sudoers.d/guest",
      { user: "root" },
    );
    const own = await sh("su guest -s /bin/sh -c 'sudo true'", { user: "root" });
    expect(own.stderr.toString()).toMatch(/guest is not in the sudoers file/);
    await sh("chown root /etc/sudoers.d/guest", { user: "root" });
    const ok = await sh("su guest -s /bin/sh -c 'sudo id -u'", { user: "root" });
    expect(ok.stdout.toString()).toBe("0\n");
  });

  it("sudo works without a terminal: exec, a session without a pty (SSH exec without -t), plain runsc exec", async () => {
    const nopty = await rt.session(id, {
      command: [
        "bash",
        "-c",
        "sudo -n id -u; echo piped | sudo cat; sudo sh -c 'test -t 0 && echo tty || echo no-tty'; echo done",
      ],
    });
    expect(await collect(nopty, { input: "" })).toEqual({
      code: 0,
      out: "0\npiped\nno-tty\ndone\n",
      err: "",
    });
    // stdin left open (as an SSH client without -t keeps it): sudo does not wait for it.
    const open = await rt.session(id, { command: ["bash", "-c", "sudo id -u; echo done"] });
    expect(await collect(open, { keepStdinOpen: true })).toEqual({ code: 0, out: "0\ndone\n", err: "" });
    const fed = await rt.session(id, { command: ["bash", "-c", "sudo cat; echo done"] });
    expect(await collect(fed, { input: "from-client\n" })).toEqual({
      code: 0,
      out: "from-client\ndone\n",
      err: "",
    });
    // runsc exec straight into the box (no boxinit exec in between), as the dev user.
    const runsc = `runsc --root=${node.stateDir}/runsc exec --user=1000:1000 ${id}`;
    // (One runsc exec per shell: after `runsc exec` the calling shell died of SIGPIPE, with or without sudo.)
    const piped = await hostCommand("sh", ["-c", `echo hi | ${runsc} sudo cat`], { timeoutMs: 30_000 });
    expect(piped.stdout).toBe("hi\n");
    const direct = await hostCommand("sh", ["-c", `${runsc} sudo id -u`], { timeoutMs: 30_000 });
    expect(direct.stdout).toBe("0\n");
  });

  it("sudo on a terminal gives the command a controlling terminal of its own: job control, ^C, sizes", async () => {
    const term = await rt.session(id, {
      command: [
        "bash",
        "-c",
        "tty; sudo bash -ic 'echo flags=$-; tty'; sudo stty size; sudo sh -c 'echo to-err >&2; echo to-out' 2>/dev/null; set -m; sudo echo from-background & wait $!; echo bg=$?; sudo sleep 30; echo status=$?; sleep 1; sudo stty size",
      ],
      pty: { cols: 80, rows: 24 },
    });
    let out = "";
    term.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    await expect.poll(() => out, { timeout: 15_000 }).toMatch(/^24 80\r$/m);
    await new Promise((r) => setTimeout(r, 1_000));
    term.stdin.write("\x03"); // ^C reaches the root sleep through its own terminal
    await expect.poll(() => out, { timeout: 10_000 }).toMatch(/status=130/);
    term.resize(100, 30);
    expect(await withTimeout(term.exited, 15_000)).toBe(0);
    const lines = out.split("\r\n");
    const outer = lines[0];
    expect(outer).toMatch(/^\/dev\/pts\/\d+$/);
    // bash takes the terminal's foreground process group (it warns when it cannot: no controlling terminal).
    // (gVisor's /dev/tty answers EIO even in a login session, so it proves nothing here.)
    expect(out).not.toMatch(/no job control|cannot set terminal process group/);
    expect(out).toMatch(/^flags=\w*m\w*$/m); // an interactive shell with job control
    const inner = lines.find((l, k) => k > 0 && /^\/dev\/pts\/\d+$/.test(l));
    expect(inner).toBeDefined();
    expect(inner).not.toBe(outer);
    expect(lines).toContain("30 100"); // the new size reached the command's terminal
    // Only the caller's terminal fds get the new terminal: a redirection stays.
    expect(lines).toContain("to-out");
    expect(out).not.toContain("to-err");
    // In the background sudo keeps the caller's stdio (changing the terminal's modes would stop it).
    expect(lines).toEqual(expect.arrayContaining(["from-background", "bg=0"]));
  });
});

/** Output and exit code of a session without a pty, its stdin fed and closed (or left open). */
async function collect(
  sess: Session,
  opts: { input?: string; keepStdinOpen?: boolean },
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  sess.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  sess.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  if (opts.input) sess.stdin.write(opts.input);
  if (!opts.keepStdinOpen) sess.stdin.end();
  try {
    return { code: await withTimeout(sess.exited, 20_000), out, err };
  } finally {
    sess.stdin.end();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)),
  ]);
}
