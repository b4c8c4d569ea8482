// Streaming sessions (SSH shells and exec, web terminals) through `runsc
// exec`. With a pty, runsc runs inside a host pseudo-terminal from node-pty
// and hands that terminal to the box process as its controlling tty; the box
// reads the window size from it, so a resize sets the host pty size and then
// sends SIGWINCH to the process in the box. Without a pty the command runs
// under `boxinit exec` like exec does (its stdio relayed through in-box pipes,
// the command started by init), so what it leaves running survives a
// checkpoint. Signals go to the process inside the sandbox (runsc kill --pid),
// found through runsc's --internal-pid-file; for a pipe session that is the
// wrapper, which passes TERM/INT/HUP on and turns USR1 into SIGKILL.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import * as nodePty from "node-pty";
import type { Session, SessionOptions } from "../runtime.ts";
import { waitFor } from "../wait-for.ts";
import { boxEnv, boxUser, execCapabilities } from "./box-process.ts";
import { boxInitPath } from "./oci-spec.ts";
import type { Runsc } from "./runsc.ts";

export interface BoxSessionContext {
  runsc: Runsc;
  id: string;
  scratchDir: string;
  specEnv?: Record<string, string>;
}

const signalNumbers = constants.signals as Record<string, number>;

export async function openSession(ctx: BoxSessionContext, opts: SessionOptions): Promise<Session> {
  const user = boxUser(opts.user);
  const token = randomBytes(6).toString("hex");
  const pidFile = join(ctx.scratchDir, `session-${token}.pid`);
  const command = opts.command ?? [boxInitPath, "login"];
  const env = boxEnv(
    user,
    ctx.specEnv,
    opts.pty ? { TERM: opts.pty.term ?? "xterm-256color" } : undefined,
    opts.env,
  );
  const cwd = opts.cwd ?? user.home;
  const cleanups: Array<() => Promise<void>> = [async () => rm(pidFile, { force: true })];

  const inBoxPid = () =>
    waitFor(
      async () => {
        const n = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
        return n > 0 ? n : undefined;
      },
      { timeoutMs: 5000, what: "the session's in-box pid" },
    );
  const signalInBox = (sig: string) => {
    void inBoxPid()
      .then((pid) => ctx.runsc.kill(ctx.id, sig.replace(/^SIG/, ""), { pid }))
      .catch(() => {});
  };

  if (opts.pty) {
    // runsc exec takes a terminal only from a process.json; it then uses its
    // own stdin (the node-pty slave) as the box process's controlling tty.
    const processJson = join(ctx.scratchDir, `session-${token}.json`);
    cleanups.push(async () => rm(processJson, { force: true }));
    await writeFile(
      processJson,
      JSON.stringify({
        terminal: true,
        consoleSize: { height: opts.pty.rows, width: opts.pty.cols },
        user: { uid: user.uid, gid: user.gid },
        args: command,
        env,
        cwd,
        capabilities: {
          bounding: execCapabilities,
          effective: user.uid === 0 ? execCapabilities : [],
          permitted: user.uid === 0 ? execCapabilities : [],
        },
      }),
      { mode: 0o600 },
    );
    const pty = nodePty.spawn(
      ctx.runsc.path,
      [...ctx.runsc.globalArgs, "exec", `--process=${processJson}`, `--internal-pid-file=${pidFile}`, ctx.id],
      {
        name: opts.pty.term ?? "xterm-256color",
        cols: opts.pty.cols,
        rows: opts.pty.rows,
        cwd: ctx.scratchDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      },
    );
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdin.on("data", (c: Buffer) => pty.write(c));
    pty.onData((d) => stdout.write(d));
    const exited = new Promise<number>((resolve) => {
      pty.onExit(({ exitCode, signal }) => {
        stdout.end();
        stderr.end();
        void Promise.all(cleanups.map((c) => c())).finally(() => resolve(signal ? 128 + signal : exitCode));
      });
    });
    return {
      stdin,
      stdout,
      stderr,
      resize(cols, rows) {
        pty.resize(cols, rows);
        signalInBox("WINCH");
      },
      signal(sig) {
        signalInBox(sig);
      },
      exited,
    };
  }

  const user_ = `${user.uid}:${user.gid}`;
  const child: ChildProcess = spawn(
    ctx.runsc.path,
    [
      ...ctx.runsc.globalArgs,
      "exec",
      `--user=${user_}`,
      `--cwd=${cwd}`,
      `--internal-pid-file=${pidFile}`,
      ...execCapabilities.map((c) => `--cap=${c}`),
      ...env.map((e) => `--env=${e}`),
      ctx.id,
      boxInitPath,
      "exec",
      "--",
      ...command,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  child.stdin?.on("error", () => {});
  const exited = new Promise<number>((resolve) => {
    child.on("close", (code, signal) => {
      void Promise.all(cleanups.map((c) => c())).finally(() =>
        resolve(code ?? 128 + (signal ? (signalNumbers[signal] ?? 9) : 9)),
      );
    });
    child.on("error", () => resolve(127));
  });
  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: child.stderr!,
    resize() {
      // No terminal, nothing to resize.
    },
    signal(sig) {
      // SIGKILL to the wrapper could not be passed on; USR1 asks it to SIGKILL the command's group.
      signalInBox(sig === "SIGKILL" ? "USR1" : sig);
    },
    exited,
  };
}
