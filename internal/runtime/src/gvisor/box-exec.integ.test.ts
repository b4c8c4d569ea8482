// How a box's exec starts its command, under real runsc: PID 1 spawns it
// (CLONE_VM|CLONE_VFORK, then execve with its own PATH search), so these pin
// down what execvp gave before: the lookup through the request's PATH, exit
// 127 with a message for a command that is not there, 126 for one that
// cannot run, a script without `#!` run by /bin/sh, the caller's ids and
// cwd, and PID 1 untouched by its child (it keeps serving execs, and its
// environment is not the command's). Then PID 1's exec port
// (box-exec-port.ts): what an exec through it returns, that it is the path
// taken (no `runsc exec`), also after a checkpoint and restore, and that
// nothing without the box's token gets a command run.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { census, isEmptyCensus, NodeNetwork } from "@boxyard/netns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectPort,
  execSocketDir,
  execViaPort,
  portUnavailable,
  relayExec,
  warmPortSettled,
} from "./box-exec-port.ts";
import { readRecord } from "./box-record.ts";
import { boxPaths } from "./box-paths.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import type { Runsc } from "./runsc.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const ID = "exec_spawn";

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  await rt.prepare(node.spec(ID));
  await rt.start(ID);
});
afterAll(async () => {
  await rt?.destroy(ID).catch(() => {});
  if (node) {
    expect(await node.leaks()).toEqual([]);
    await node.close();
  }
});

async function sh(script: string, user: "dev" | "root" = "dev") {
  const r = await rt.exec(ID, { command: ["sh", "-c", script], user });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  return r.stdout.toString();
}

describe("gvisor exec: how PID 1 starts the command", () => {
  it("finds a bare name through the request's PATH, in order, skipping entries that do not have it", async () => {
    await sh(
      "mkdir -p /tmp/p1 /tmp/p2 && printf '#!/bin/sh\\necho from-p2\\n' > /tmp/p2/which-one && chmod +x /tmp/p2/which-one",
    );
    const r = await rt.exec(ID, {
      command: ["which-one"],
      env: { PATH: "/nonexistent:/tmp/p1:/tmp/p2:/bin" },
    });
    expect(r.stdout.toString()).toBe("from-p2\n");
    expect(r.exitCode).toBe(0);
    // The first match wins.
    await sh("printf '#!/bin/sh\\necho from-p1\\n' > /tmp/p1/which-one && chmod +x /tmp/p1/which-one");
    const first = await rt.exec(ID, { command: ["which-one"], env: { PATH: "/tmp/p1:/tmp/p2" } });
    expect(first.stdout.toString()).toBe("from-p1\n");
  });

  it("a command that is not there exits 127 and says so; one that cannot run exits 126", async () => {
    const missing = await rt.exec(ID, { command: ["no-such-command-here"] });
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr.toString()).toBe("boxinit exec: no-such-command-here: No such file or directory\n");
    const missingPath = await rt.exec(ID, { command: ["/no/such/file"] });
    expect(missingPath.exitCode).toBe(127);

    await sh("printf '#!/bin/sh\\necho hi\\n' > /tmp/noexec && chmod 644 /tmp/noexec");
    const denied = await rt.exec(ID, { command: ["/tmp/noexec"] });
    expect(denied.exitCode).toBe(126);
    expect(denied.stderr.toString()).toBe("boxinit exec: /tmp/noexec: Permission denied\n");
    // Found only where it cannot run: execvp's EACCES, not "not found".
    const deniedByPath = await rt.exec(ID, { command: ["noexec"], env: { PATH: "/nonexistent:/tmp" } });
    expect(deniedByPath.exitCode).toBe(126);
  });

  it("a script without #! runs under /bin/sh with its arguments", async () => {
    await sh("printf 'echo \"args: $1 $2\"\\n' > /tmp/bare && chmod +x /tmp/bare");
    const r = await rt.exec(ID, { command: ["/tmp/bare", "one", "two"] });
    expect(r.stdout.toString()).toBe("args: one two\n");
    expect(r.exitCode).toBe(0);
  });

  it("runs with the caller's ids, groups and cwd, in a session of its own, as a child of PID 1", async () => {
    // /proc/$$/stat: field 4 is the parent, field 6 the session.
    const dev = await sh("id -u; id -g; id -G; pwd; awk -v me=$$ '{print $4, ($6 == me)}' /proc/$$/stat");
    expect(dev).toBe("1000\n1000\n1000\n/home/dev\n1 1\n");
    expect(await sh("id -u; id -G", "root")).toBe("0\n0\n");
  });

  it("leaves PID 1 as it was: its environment is not the last command's, and it keeps serving", async () => {
    await rt.exec(ID, { command: ["true"], env: { LEAK_CHECK: "from-an-exec" } });
    const initEnv = await sh("tr '\\0' '\\n' < /proc/1/environ", "root");
    expect(initEnv).not.toContain("LEAK_CHECK");
    for (let i = 0; i < 5; i++) expect(await sh(`echo run-${i}`)).toBe(`run-${i}\n`);
  });
});

describe("gvisor exec through PID 1's exec port", () => {
  const PORT_ID = "exec_port";
  const NET_PREFIX = "byxp";
  let network: NodeNetwork | undefined;
  let logged: GvisorRuntime;
  let log: string;
  const calls = async (sub: string) =>
    (await readFile(log, "utf8").catch(() => "")).split("\n").filter((l) => ` ${l} `.includes(` ${sub} `))
      .length;

  beforeAll(async () => {
    // runsc through a wrapper that logs each command: an exec must be a port-forward, never a runsc exec.
    log = join(node.dir, "runsc-port.log");
    const wrapper = join(node.dir, "runsc-port-logged");
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec runsc "$@"\n`, { mode: 0o755 });
    // The port needs the box's netstack: runsc forwards to it only with --network=sandbox, as a node runs boxes.
    network = await NodeNetwork.open({
      stateDir: join(node.dir, "net"),
      prefix: NET_PREFIX,
      subnet: "10.227.0.0/24",
    });
    logged = node.runtime({ runscPath: wrapper, network });
    await logged.prepare(node.spec(PORT_ID));
    await logged.start(PORT_ID);
    // The start made a connection for the first exec in the background; the counts below start after it.
    await warmPortSettled(PORT_ID);
  });
  afterAll(async () => {
    await logged?.destroy(PORT_ID).catch(() => {});
    await network?.close({ removeBridge: true });
    expect(isEmptyCensus(await census(NET_PREFIX))).toBe(true);
  });

  it("runs the command with no runsc at all: stdin, stdout and stderr apart, exit codes, signals, the output cap", async () => {
    const execsBefore = await calls("exec");
    const forwardsBefore = await calls("port-forward");
    const r = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "cat; echo to-err >&2; exit 3"],
      stdin: "from-stdin\n",
    });
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, truncated: false });
    expect(r.stdout.toString()).toBe("from-stdin\n");
    expect(r.stderr.toString()).toBe("to-err\n");
    const killed = await logged.exec(PORT_ID, { command: ["sh", "-c", "kill -9 $$"] });
    expect(killed.exitCode).toBe(137);
    // 3 MiB through the relay, byte for byte; and the cap.
    const big = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "head -c 3145728 /dev/zero | tr '\\0' a"],
    });
    expect(big.stdout.length).toBe(3 * 1024 * 1024);
    expect(big.stdout.every((b) => b === 97)).toBe(true);
    const capped = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "head -c 100000 /dev/zero"],
      maxOutputBytes: 1000,
    });
    expect(capped).toMatchObject({ exitCode: 0, truncated: true });
    expect(capped.stdout.length).toBe(1000);
    const stdinBig = Buffer.alloc(300_000, 98);
    const counted = await logged.exec(PORT_ID, { command: ["wc", "-c"], stdin: stdinBig });
    expect(counted.stdout.toString().trim()).toBe("300000");
    // A command that never reads its stdin while it writes much: the host's stdin waits in PID 1, output flows.
    const unread = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' c"],
      stdin: Buffer.alloc(1_000_000, 100),
      timeoutMs: 60_000,
    });
    expect(unread).toMatchObject({ exitCode: 0, timedOut: false });
    expect(unread.stdout.length).toBe(2_000_000);
    expect(await calls("exec")).toBe(execsBefore);
    // Six execs, no port-forward: the host connects to the box's address.
    expect(await calls("port-forward")).toBe(forwardsBefore);
  });

  it("where PID 1 refuses at the box's address (one from before it listened there), runsc's port-forward reaches it", async () => {
    const runsc = (logged as unknown as { runsc: Runsc }).runsc;
    const rec = await readRecord(boxPaths(node.stateDir, PORT_ID).record);
    // The gateway's port 1019: nothing listens there, so the connection is refused at once, as such a PID 1's is.
    const gateway = rec?.address?.replace(/\.\d+$/, ".1");
    const forwardsBefore = await calls("port-forward");
    const r = await execViaPort(
      { runsc, id: PORT_ID, token: rec?.execToken ?? "", address: gateway },
      { command: ["echo", "forwarded"] },
      1 << 20,
    );
    expect(r).not.toBe(portUnavailable);
    expect((r as { stdout: Buffer }).stdout.toString()).toBe("forwarded\n");
    expect(await calls("port-forward")).toBe(forwardsBefore + 1);
  });

  it("only root on the host reaches the port at the box's address; another box and other host users never do", async () => {
    const address = (await readRecord(boxPaths(node.stateDir, PORT_ID).record))?.address ?? "";
    expect(address).toMatch(/^10\.227\.0\.\d+$/);
    const connect = (asNobody: boolean) =>
      spawnSync(
        asNobody ? "setpriv" : "bash",
        [
          ...(asNobody ? ["--reuid=65534", "--regid=65534", "--clear-groups", "bash"] : []),
          "-c",
          `exec 3<>/dev/tcp/${address}/1019`,
        ],
        { timeout: 10_000 },
      );
    expect(connect(false).status).toBe(0);
    const nobody = connect(true);
    expect(nobody.status).not.toBe(0);
    expect(nobody.stderr.toString()).toMatch(/refused/i);
    // Another box on the same node network: the bridge keeps boxes apart.
    const other = `${PORT_ID}_b`;
    await logged.prepare(node.spec(other));
    try {
      await logged.start(other);
      const probe = await logged.exec(other, {
        command: ["sh", "-c", `printf x | nc -w 2 ${address} 1019 && echo reached || echo kept-out`],
        timeoutMs: 30_000,
      });
      expect(probe.stdout.toString()).toBe("kept-out\n");
    } finally {
      await logged.destroy(other);
    }
  });

  it("a timeout ends the command and what it started inside the box", async () => {
    const r = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "sleep 300 & sleep 301; echo never"],
      timeoutMs: 500,
    });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(r.stdout.toString()).not.toContain("never");
    const ps = await logged.exec(PORT_ID, { command: ["ps", "-o", "args"] });
    expect(ps.stdout.toString()).not.toMatch(/sleep 30[01]/);
  });

  it("after a checkpoint and restore the port still serves (no runsc exec); an exec in flight is ended first, its command kept", async () => {
    const running = logged.exec(PORT_ID, { command: ["sh", "-c", "echo started; sleep 120; echo never"] });
    await new Promise((r) => setTimeout(r, 1500));
    await logged.checkpoint(PORT_ID);
    const ended = await running;
    expect(ended.exitCode).not.toBe(0);
    expect(ended.stdout.toString()).not.toContain("never");
    await logged.resume(PORT_ID);
    const execsBefore = await calls("exec");
    // The command itself lives on in the box (init's child), as it did when runsc exec's wrapper was ended.
    const r = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "echo restored; ps -o args | grep -c '^[s]leep 120'; killall sleep"],
    });
    expect(r.stdout.toString()).toBe("restored\n1\n");
    expect(await calls("exec")).toBe(execsBefore);
  });

  it("nothing without the token runs a command: a wrong token from the host, a process in the box", async () => {
    const runsc = (logged as unknown as { runsc: Runsc }).runsc;
    const wrong = await execViaPort(
      { runsc, id: PORT_ID, token: "0".repeat(64) },
      { command: ["touch", "/tmp/wrong-token"] },
      1 << 20,
    );
    expect(wrong).not.toBe(portUnavailable);
    expect(wrong).toMatchObject({ exitCode: 128 });
    // From inside: the port answers nothing to a guess, and PID 1's environment no longer holds the token.
    const guess = await logged.exec(PORT_ID, {
      command: ["sh", "-c", "printf 'BXE1%064d' 0 | nc -w 2 127.0.0.1 1019 | wc -c; ls /tmp"],
    });
    expect(guess.stdout.toString()).toMatch(/^\s*0\n/);
    expect(guess.stdout.toString()).not.toContain("wrong-token");
    const rec = await readRecord(boxPaths(node.stateDir, PORT_ID).record);
    expect(rec?.execToken).toMatch(/^[0-9a-f]{64}$/);
    const environ = await logged.exec(PORT_ID, { command: ["cat", "/proc/1/environ"], user: "root" });
    expect(environ.stdout.toString()).not.toContain(rec?.execToken ?? "none");
    // PID 1 keeps serving.
    expect((await logged.exec(PORT_ID, { command: ["echo", "still"] })).stdout.toString()).toBe("still\n");
  });

  /** A connection to the box's port of our own, with the context a relay needs. */
  const openPort = async () => {
    const runsc = (logged as unknown as { runsc: Runsc }).runsc;
    const rec = await readRecord(boxPaths(node.stateDir, PORT_ID).record);
    const ctx = { runsc, id: PORT_ID, token: rec?.execToken ?? "" };
    const conn = await connectPort(ctx);
    if (conn === portUnavailable) throw new Error("no port");
    return { ctx, conn };
  };

  // A box under a small CPU quota on a busy node reads a request slowly: PID 1 reads it as it comes, and
  // serves everything else meanwhile (it used to give a request 1 s and block its loop for it).
  it("a request that arrives in pieces over seconds runs, and other execs run meanwhile", async () => {
    const { ctx, conn } = await openPort();
    const order: string[] = [];
    const slow = relayExec(conn, ctx, { command: ["echo", "slow"] }, 1 << 20, (bytes) => {
      conn.write(bytes.subarray(0, 3));
      setTimeout(() => conn.write(bytes.subarray(3, 20)), 1500);
      setTimeout(() => {
        order.push("last piece sent");
        conn.write(bytes.subarray(20));
      }, 3000);
    });
    const other = await logged.exec(PORT_ID, { command: ["echo", "meanwhile"] });
    order.push("other done");
    expect(other.stdout.toString()).toBe("meanwhile\n");
    const r = await slow;
    expect(r).toMatchObject({ exitCode: 0 });
    expect(r.stdout.toString()).toBe("slow\n");
    expect(order).toEqual(["other done", "last piece sent"]);
  });

  // After the command exits, what is left in its pipes waits for the host's acknowledgements without
  // holding PID 1's loop (it used to block the loop, and give up after 5 s without sending the status).
  it("a host that takes the output slowly after the command ended gets all of it, and other execs run meanwhile", async () => {
    const { ctx, conn } = await openPort();
    let paused = false;
    // 60000 bytes: more than the 16 KiB window, less than that plus the pipe, so the command ends first.
    const slow = relayExec(conn, ctx, { command: ["head", "-c", "60000", "/dev/zero"] }, 1 << 20, (bytes) => {
      conn.write(bytes);
      conn.once("data", () => {
        paused = true;
        conn.pause();
        setTimeout(() => {
          paused = false;
          conn.resume();
        }, 6000);
      });
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(paused).toBe(true);
    const other = await logged.exec(PORT_ID, { command: ["echo", "meanwhile"] });
    expect(other.stdout.toString()).toBe("meanwhile\n");
    expect(paused).toBe(true);
    const r = await slow;
    expect(r).toMatchObject({ exitCode: 0, truncated: false });
    expect(r.stdout.length).toBe(60000);
  });

  it("the host sockets' directory: made by mkdtemp (0700, ours), and a dead process's is swept", async () => {
    // A process that has ended: its pid is free (not reused within this test on a 4M pid space).
    const dead = spawnSync("true").pid as number;
    const stale = join(tmpdir(), `boxyard-pf-${dead}-stale1`);
    const staleOld = join(tmpdir(), `boxyard-pf-${dead}`);
    await mkdir(stale, { recursive: true });
    await mkdir(staleOld, { recursive: true });
    const mod = fileURLToPath(new URL("./box-exec-port.ts", import.meta.url));
    const script = join(node.dir, "socket-dir.mts");
    await writeFile(
      script,
      `import { execSocketDir } from ${JSON.stringify(mod)};\nprocess.stdout.write(await execSocketDir());\n`,
    );
    const r = spawnSync("npx", ["--no-install", "tsx", script], { timeout: 60_000, encoding: "utf8" });
    expect(r.status).toBe(0);
    const made = r.stdout.trim();
    expect(made.startsWith(join(tmpdir(), `boxyard-pf-${r.pid}-`)) || /boxyard-pf-\d+-/.test(made)).toBe(
      true,
    );
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(staleOld)).toBe(false);
    // The process removed its own on exit.
    expect(existsSync(made)).toBe(false);
    // This process's own directory: 0700 and ours.
    const st = await stat(await execSocketDir());
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(process.getuid?.());
  });

  it("a box whose PID 1 has no port (booted by an older driver) falls back to runsc exec", async () => {
    const fake = join(node.dir, "runsc-refuses");
    await writeFile(fake, "#!/bin/sh\necho 'connecting endpoint: connection was refused' >&2\nexit 128\n", {
      mode: 0o755,
    });
    const r = await execViaPort(
      { runsc: { path: fake, globalArgs: [] } as unknown as Runsc, id: PORT_ID, token: "1".repeat(64) },
      { command: ["true"] },
      1 << 20,
    );
    expect(r).toBe(portUnavailable);
    // The runtime then uses runsc exec: a record without a token is such a box.
    const paths = boxPaths(node.stateDir, PORT_ID);
    const rec = await readRecord(paths.record);
    await writeFile(paths.record, JSON.stringify({ ...rec, execToken: undefined }));
    const execsBefore = await calls("exec");
    const viaExec = await logged.exec(PORT_ID, { command: ["echo", "old-way"] });
    expect(viaExec.stdout.toString()).toBe("old-way\n");
    expect(await calls("exec")).toBe(execsBefore + 1);
    await writeFile(paths.record, JSON.stringify(rec));
  });
});
