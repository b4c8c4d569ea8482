// exec: one command in a running box, as uid 1000 in /home/dev unless asked
// otherwise. Through PID 1's exec port when the box has one
// (box-exec-port.ts), else through `runsc exec`, as here. The command runs under `boxinit exec`,
// which puts it in its own process group and relays its stdio through in-box
// pipes. A timeout sends SIGUSR1 to that wrapper (found through runsc's
// --internal-pid-file), which SIGKILLs the whole group inside the sandbox; the
// host runsc process is killed too if it does not end by itself.

import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { runOffThreadRaw } from "@boxyard/platform";
import type { ExecOptions, ExecResult } from "../runtime.ts";
import { waitFor } from "../wait-for.ts";
import { execViaPort, portUnavailable } from "./box-exec-port.ts";
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
  /** The token of PID 1's exec port (box-exec-port.ts), when the box was booted with one. */
  execToken?: string;
  /** The box's address on the node network: the port is reached there directly (box-exec-port.ts). */
  address?: string;
}

export async function execInBox(ctx: BoxExecContext, opts: ExecOptions): Promise<ExecResult> {
  if (opts.command.length === 0) throw new Error("exec needs a command");
  const cap = opts.maxOutputBytes ?? defaultMaxOutputBytes;
  if (ctx.execToken) {
    const r = await execViaPort(
      { runsc: ctx.runsc, id: ctx.id, token: ctx.execToken, specEnv: ctx.specEnv, address: ctx.address },
      opts,
      cap,
    );
    if (r !== portUnavailable) return r;
  }
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
  // At the deadline the command and everything it started end inside the box
  // (killInBox); the host's runsc exec goes too if it outlives that by 3 s.
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs !== undefined)
    timer = setTimeout(() => {
      timedOut = true;
      void killInBox(ctx, pidFile);
    }, opts.timeoutMs);
  try {
    // From a worker thread (off-thread-spawn.ts): a spawn on the event loop blocks it until runsc has exec'd.
    const r = await runOffThreadRaw({
      file: ctx.runsc.path,
      args,
      input: opts.stdin === undefined ? "" : opts.stdin,
      maxOutputBytes: cap,
      timeoutMs: opts.timeoutMs === undefined ? null : opts.timeoutMs + KILL_GRACE_MS,
    });
    if (r.spawnError)
      throw Object.assign(new Error(`cannot start ${ctx.runsc.path}: ${r.spawnError.message}`), {
        code: r.spawnError.code,
      });
    const exitCode = r.code ?? 128 + (r.signal ? (osSignals[r.signal] ?? 9) : 9);
    return { exitCode, stdout: r.stdout, stderr: r.stderr, timedOut, truncated: r.truncated };
  } finally {
    clearTimeout(timer);
    await rm(pidFile, { force: true });
  }
}

/** How long the host's runsc exec may outlive the deadline (the in-box kill takes up to ~2 s to find its pid). */
const KILL_GRACE_MS = 5000;

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
