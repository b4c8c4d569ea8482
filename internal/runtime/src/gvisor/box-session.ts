// Streaming sessions (SSH shells and exec, web terminals) through `runsc
// exec` of boxinit, so that the command is started by the box's init and what
// it leaves running survives a checkpoint (runsc ends everything descended
// from a `runsc exec` at restore). Without a pty the command runs under
// `boxinit exec` like exec does (its stdio relayed through in-box pipes).
// With a pty it runs under `boxinit pty`: init opens a pseudo-terminal inside
// the box and the wrapper relays it; window sizes travel in-band as frames
// on the wrapper's stdin (ptyFrame), so no host terminal is involved at all.
// Signals go to the wrapper inside the sandbox (runsc kill --pid), found
// through runsc's --internal-pid-file; it passes TERM/INT/HUP on to the
// command's process group and turns USR1 into SIGKILL.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
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
      ...(opts.pty ? ["pty", String(opts.pty.rows), String(opts.pty.cols)] : ["exec"]),
      "--",
      ...command,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  child.stdin?.on("error", () => {});
  let killAsked = false;
  const exited = new Promise<number>((resolve) => {
    child.on("close", (code, signal) => {
      // USR1 stands for SIGKILL (below); one that reached the wrapper before it set its handler ended
      // it by USR1's default action, before it started the command: killed all the same.
      const status =
        killAsked && code === 128 + (signalNumbers.SIGUSR1 ?? 10)
          ? 128 + 9
          : (code ?? 128 + (signal ? (signalNumbers[signal] ?? 9) : 9));
      void Promise.all(cleanups.map((c) => c())).finally(() => resolve(status));
    });
    child.on("error", () => resolve(127));
  });
  // SIGKILL to the wrapper could not be passed on; USR1 asks it to SIGKILL the command's group.
  const signal = (sig: string) => {
    if (sig === "SIGKILL") killAsked = true;
    signalInBox(sig === "SIGKILL" ? "USR1" : sig);
  };

  if (opts.pty) {
    // `boxinit pty` reads frames (ptyFrame); what the terminal shows comes
    // back on stdout. Its stderr carries only its own errors.
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    stdin.on("data", (c: Buffer) => {
      for (let off = 0; off < c.length; off += maxFrame)
        child.stdin?.write(ptyFrame("d", c.subarray(off, off + maxFrame)));
    });
    stdin.on("end", () => child.stdin?.end());
    // One stream, as on a terminal (the wrapper's own errors included).
    let open = 2;
    for (const from of [child.stdout!, child.stderr!]) {
      from.on("data", (d: Buffer) => stdout.write(d));
      from.on("end", () => {
        if (--open === 0) stdout.end();
      });
    }
    return {
      stdin,
      stdout,
      stderr: new PassThrough().end(),
      resize(cols, rows) {
        const size = Buffer.alloc(4);
        size.writeUInt16BE(clampSize(rows), 0);
        size.writeUInt16BE(clampSize(cols), 2);
        if (child.stdin?.writable) child.stdin.write(ptyFrame("w", size));
      },
      signal,
      exited,
    };
  }

  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: child.stderr!,
    resize() {
      // No terminal, nothing to resize.
    },
    signal,
    exited,
  };
}

/** The largest payload of one frame to `boxinit pty` (it refuses more than 64 KiB). */
const maxFrame = 16_384;

/** A frame for `boxinit pty`: type ('d' input, 'w' window size), 4-byte big-endian length, payload. */
export function ptyFrame(type: "d" | "w", payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function clampSize(n: number): number {
  return Math.max(1, Math.min(1000, Math.floor(n)));
}
