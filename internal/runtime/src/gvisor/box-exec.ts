// exec: one command in a running box through `runsc exec`, as uid 1000 in
// /home/dev unless asked otherwise. The command runs under `boxinit exec`,
// which puts it in its own process group and relays its stdio through in-box
// pipes. A timeout sends SIGUSR1 to that wrapper (found through runsc's
// --internal-pid-file), which SIGKILLs the whole group inside the sandbox; the
// host runsc process is killed too if it does not end by itself.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import type { ExecOptions, ExecResult } from "../runtime.ts";
import { waitFor } from "../wait-for.ts";
import { boxEnv, boxUser, execCapabilities } from "./box-process.ts";
import { boxInitPath } from "./oci-spec.ts";
import type { Runsc } from "./runsc.ts";

export const defaultMaxOutputBytes = 16 * 1024 * 1024;

/** Tells boxinit not to put the box's secrets in the command's environment (see boxinit.c). */
const NO_SECRETS_ENV = { BOXYARD_NO_SECRETS_ENV: "1" };

export interface BoxExecContext {
  runsc: Runsc;
  id: string;
  scratchDir: string;
  specEnv?: Record<string, string>;
}

class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.size += part.length;
  }

  get buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function execInBox(ctx: BoxExecContext, opts: ExecOptions): Promise<ExecResult> {
  if (opts.command.length === 0) throw new Error("exec needs a command");
  const user = boxUser(opts.user);
  const pidFile = join(ctx.scratchDir, `exec-${randomBytes(6).toString("hex")}.pid`);
  const args = [
    ...ctx.runsc.globalArgs,
    "exec",
    `--user=${user.uid}:${user.gid}`,
    `--cwd=${opts.cwd ?? user.home}`,
    `--internal-pid-file=${pidFile}`,
    ...execCapabilities.map((c) => `--cap=${c}`),
    ...boxEnv(user, ctx.specEnv, opts.env, opts.noSecretsEnv ? NO_SECRETS_ENV : undefined).map(
      (e) => `--env=${e}`,
    ),
    ctx.id,
    boxInitPath,
    "exec",
    "--",
    ...opts.command,
  ];
  const cap = opts.maxOutputBytes ?? defaultMaxOutputBytes;
  const out = new CappedBuffer(cap);
  const err = new CappedBuffer(cap);
  const child = spawn(ctx.runsc.path, args, { stdio: ["pipe", "pipe", "pipe"] });
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  child.stdin.on("error", () => {}); // the command may exit without reading its input
  child.stdin.end(opts.stdin ?? "");

  let timedOut = false;
  const timers: NodeJS.Timeout[] = [];
  if (opts.timeoutMs !== undefined) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        void killInBox(ctx, pidFile).finally(() => {
          // If the sandbox did not end it, stop waiting for the host side.
          timers.push(setTimeout(() => child.kill("SIGKILL"), 3000));
        });
      }, opts.timeoutMs),
    );
  }
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code, signal) => resolve({ code, signal }));
      },
    );
    const exitCode = code ?? 128 + (signal ? (osSignals[signal] ?? 9) : 9);
    return {
      exitCode,
      stdout: out.buffer,
      stderr: err.buffer,
      timedOut,
      truncated: out.truncated || err.truncated,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    await rm(pidFile, { force: true });
  }
}

const osSignals = constants.signals as Record<string, number>;

async function killInBox(ctx: BoxExecContext, pidFile: string): Promise<void> {
  try {
    const pid = await waitFor(
      async () => {
        const text = await readFile(pidFile, "utf8").catch(() => "");
        const n = Number(text.trim());
        return n > 0 ? n : undefined;
      },
      { timeoutMs: 2000, what: "the exec's in-box pid" },
    );
    await ctx.runsc.kill(ctx.id, "USR1", { pid });
  } catch {
    // The process may already be gone; the host-side kill below still ends the call.
  }
}
