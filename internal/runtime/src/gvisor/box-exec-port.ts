// exec through PID 1's exec port (boxinit.c, serve_port). PID 1 listens on
// port 1019 of the box: the host connects to the box's address over the
// node's bridge (only root's sockets may: the node's nft rules, ruleset.ts;
// other boxes never reach each other). A PID 1 from before it listened there
// (loopback only) refuses, and `runsc port-forward --stream` hands a host
// unix socket to the sentry instead, which connects it to 127.0.0.1:1019
// inside the box (45-80 ms of runsc). Either way no process is made in the
// box for the connection. PID 1
// checks the request's token, starts the command on in-box pipes and relays
// them as frames, at most 16 KiB unacknowledged (runsc's proxy must never
// find the host socket full: boxinit.c, RELAY_WINDOW). The box then makes one new address space per exec (the
// command's) where `runsc exec` of `boxinit exec` made two, and under a
// quarter-CPU quota each costs one or two 100 ms periods.
//
// A box booted before its record had a token has no such port: runsc says
// the connection was refused before any request was sent, and the caller
// falls back to `runsc exec`.

import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOffThreadRaw } from "@boxyard/platform";
import type { ExecOptions, ExecResult } from "../runtime.ts";
import { boxEnv, boxUser } from "./box-process.ts";
import type { Runsc } from "./runsc.ts";

/** The port PID 1 listens on inside the box (boxinit.c, EXEC_PORT). */
export const execPort = 1019;

/** A fresh token for a box's PID 1 (its BOXYARD_EXEC_TOKEN). */
export function newExecToken(): string {
  return randomBytes(32).toString("hex");
}

export interface ExecPortContext {
  runsc: Runsc;
  id: string;
  token: string;
  specEnv?: Record<string, string>;
  /** The box's address on the node network, where PID 1 also listens: reached without runsc. */
  address?: string;
}

/** What the caller does instead when the port could not be reached (nothing was sent). */
export const portUnavailable = Symbol("exec port unavailable");

/** How long a timed-out command has, after its SIGKILL was asked for, before the connection is dropped. */
const KILL_GRACE_MS = 5000;
/** How long runsc may take to hand the socket over. */
const CONNECT_TIMEOUT_MS = 15_000;
/** How long a direct connection may take before runsc's way is tried (a refusal comes at once). */
const DIRECT_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Short socket paths (a unix socket path has 107 bytes at most; a node's
 * state dir may be deep): one root-only directory per process, made by
 * mkdtemp (a predictable name in /tmp could be made first by another user,
 * who would then reach our sockets before runsc does). Exported for tests.
 */
let socketDir: Promise<string> | undefined;
export function execSocketDir(): Promise<string> {
  socketDir ??= (async () => {
    // Those of processes that ended by a signal, before their exit hook: ours, their pid gone.
    for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
      const pid = Number(/^boxyard-pf-(\d+)(?:-|$)/.exec(name)?.[1]);
      if (!pid || pid === process.pid || pidAlive(pid)) continue;
      const path = join(tmpdir(), name);
      const st = await lstat(path).catch(() => undefined);
      if (st?.isDirectory() && st.uid === process.getuid?.())
        await rm(path, { recursive: true, force: true });
    }
    const dir = await mkdtemp(join(tmpdir(), `boxyard-pf-${process.pid}-`));
    // Not abstract sockets: any host user could connect to one before runsc does and read the
    // request (token, command, a secret as stdin). Each socket goes after its exec, the dir on exit.
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return socketDir;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Each box's exec connections in flight (a checkpoint ends them first: endPortExecs). */
const inFlight = new Map<string, Set<Socket>>();

function track(id: string, conn: Socket): void {
  const mine = inFlight.get(id) ?? new Set<Socket>();
  inFlight.set(id, mine);
  mine.add(conn);
}

function untrack(id: string, conn: Socket): void {
  const mine = inFlight.get(id);
  mine?.delete(conn);
  if (mine?.size === 0 && inFlight.get(id) === mine) inFlight.delete(id);
}

/**
 * One connection per box made right after its start or restore, for its first
 * exec (a runsc port-forward is 50-70 ms of an exec, and a box's first exec
 * usually follows its start at once). Only then: an idle box costs nothing.
 * PID 1 drops a connection that brings no request within 30 s, so one older
 * than WARM_MAX_AGE_MS is not used.
 */
const warm = new Map<string, { conn: Promise<Socket | typeof portUnavailable>; at: number; token: string }>();
const WARM_MAX_AGE_MS = 20_000;

/** Opens the box's warm connection in the background (replacing an older one). */
export function prewarmPort(ctx: ExecPortContext): void {
  const old = warm.get(ctx.id);
  if (old)
    void old.conn.then(
      (c) => c !== portUnavailable && c.destroy(),
      () => {},
    );
  const entry = { at: Date.now(), token: ctx.token, conn: connectPort(ctx) };
  warm.set(ctx.id, entry);
  const forget = () => {
    if (warm.get(ctx.id) === entry) warm.delete(ctx.id);
  };
  entry.conn.then(
    (c) => {
      if (typeof c === "symbol") return forget();
      track(ctx.id, c);
      c.once("close", () => {
        untrack(ctx.id, c);
        forget();
      });
      setTimeout(() => {
        if (warm.get(ctx.id) !== entry) return;
        forget();
        c.destroy();
      }, WARM_MAX_AGE_MS).unref();
    },
    () => forget(),
  );
}

/** Resolves once the box's warm connection is made (or failed); for tests. */
export async function warmPortSettled(id: string): Promise<void> {
  await warm.get(id)?.conn.catch(() => {});
}

/** The box's warm connection when it is usable (it is taken: each serves one exec). */
async function takeWarm(ctx: ExecPortContext): Promise<Socket | undefined> {
  const entry = warm.get(ctx.id);
  if (!entry) return undefined;
  warm.delete(ctx.id);
  const c = await entry.conn.catch(() => portUnavailable);
  if (typeof c === "symbol") return undefined;
  if (c.destroyed || c.closed || entry.token !== ctx.token || Date.now() - entry.at > WARM_MAX_AGE_MS) {
    c.destroy();
    return undefined;
  }
  return c;
}

/**
 * Ends the box's exec connections in flight, so that runsc's proxy lets go
 * of its host socket, which a checkpoint could not save. Their commands live
 * on in the box (as when `runsc exec`'s wrapper was ended); their calls
 * return without a status. Resolves once every one has closed.
 */
export async function endPortExecs(id: string): Promise<void> {
  // A warm connection still being made would be one the checkpoint meets.
  const entry = warm.get(id);
  if (entry) {
    warm.delete(id);
    const c = await entry.conn.catch(() => portUnavailable);
    if (typeof c !== "symbol") c.destroy();
  }
  const conns = [...(inFlight.get(id) ?? [])];
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.closed) return resolve();
          c.once("close", () => resolve());
          c.destroy();
        }),
    ),
  );
}

export async function execViaPort(
  ctx: ExecPortContext,
  opts: ExecOptions,
  cap: number,
): Promise<ExecResult | typeof portUnavailable> {
  const conn = (await takeWarm(ctx)) ?? (await connectPort(ctx));
  if (conn === portUnavailable) return conn;
  track(ctx.id, conn);
  try {
    return await relayExec(conn, ctx, opts, cap);
  } finally {
    untrack(ctx.id, conn);
  }
}

/**
 * The connection to PID 1's port: straight to the box's address when it has
 * one and PID 1 listens there, else through `runsc port-forward`;
 * portUnavailable when neither could make it (nothing was sent). Exported for tests.
 */
export async function connectPort(ctx: ExecPortContext): Promise<Socket | typeof portUnavailable> {
  if (ctx.address) {
    const direct = await connectDirect(ctx.address);
    if (direct) return direct;
  }
  return connectForwarded(ctx);
}

/**
 * A TCP connection from the host to PID 1's port at the box's address over
 * the node's bridge: no runsc process, no proxy in the sentry. Undefined when
 * it is refused (a PID 1 from before it listened there, on loopback only) or
 * not made within DIRECT_CONNECT_TIMEOUT_MS.
 */
async function connectDirect(address: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = createConnection({ host: address, port: execPort, noDelay: true });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.removeAllListeners("connect");
      if (ok) resolve(s);
      else {
        s.destroy();
        resolve(undefined);
      }
    };
    const timer = setTimeout(() => done(false), DIRECT_CONNECT_TIMEOUT_MS);
    // An error before the relay listens must not be an uncaught 'error' event.
    s.on("error", () => done(false));
    s.once("connect", () => {
      s.removeAllListeners("error");
      s.on("error", () => {});
      done(true);
    });
  });
}

async function connectForwarded(ctx: ExecPortContext): Promise<Socket | typeof portUnavailable> {
  const path = join(await execSocketDir(), `${randomBytes(8).toString("hex")}.sock`);
  let server: Server | undefined;
  let accepted: Socket | undefined;
  try {
    const conn = new Promise<Socket>((resolve, reject) => {
      server = createServer({ pauseOnConnect: true }, (s) => {
        // One connection: runsc's. The listener goes at once. (An error before the relay listens
        // must not be an uncaught 'error' event.)
        s.on("error", () => {});
        accepted = s;
        server?.close();
        resolve(s);
      });
      server.on("error", reject);
      server.listen(path);
    });
    conn.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server?.once("listening", resolve);
      server?.once("error", reject);
    });
    const forward = await runOffThreadRaw({
      file: ctx.runsc.path,
      args: [...ctx.runsc.globalArgs, "port-forward", `--stream=${path}`, ctx.id, String(execPort)],
      input: "",
      maxOutputBytes: 64 * 1024,
      timeoutMs: CONNECT_TIMEOUT_MS,
    });
    // runsc connects to the socket first and asks the sentry to connect the
    // port after: a refusal (no port in this box) comes with a failed exit,
    // and nothing has been sent to the box yet.
    if (forward.spawnError || forward.code !== 0 || !accepted) {
      accepted?.destroy();
      return portUnavailable;
    }
    return await conn;
  } catch {
    accepted?.destroy();
    return portUnavailable;
  } finally {
    server?.close();
    await rm(path, { force: true });
  }
}

function frame(kind: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(kind, 0, "latin1");
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The request PID 1 reads (boxinit.c, serve_port). */
function request(ctx: ExecPortContext, opts: ExecOptions): Buffer {
  const user = boxUser(opts.user);
  const strings = [
    String(user.uid),
    String(user.gid),
    opts.cwd ?? user.home,
    opts.noSecretsEnv ? "0" : "1",
    String(opts.command.length),
    ...opts.command,
    ...boxEnv(user, ctx.specEnv, opts.env),
  ];
  for (const s of strings)
    if (s.includes("\0")) throw new Error("exec: a command, argument or variable cannot hold a NUL byte");
  const body = Buffer.from(`${strings.join("\0")}\0\0`, "utf8");
  const head = Buffer.alloc(4 + ctx.token.length + 4);
  head.write("BXE1", 0, "latin1");
  head.write(ctx.token, 4, "latin1");
  head.writeUInt32BE(body.length, 4 + ctx.token.length);
  return Buffer.concat([head, body]);
}

/**
 * Sends the request, stdin and its end, then relays the box's frames until the status. `send`
 * writes those first bytes (tests send them in pieces). Exported for tests.
 */
export function relayExec(
  conn: Socket,
  ctx: ExecPortContext,
  opts: ExecOptions,
  cap: number,
  send: (bytes: Buffer) => void = (bytes) => conn.write(bytes),
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outLen = 0;
  let errLen = 0;
  let truncated = false;
  let timedOut = false;
  let status: number | undefined;
  let pending: Buffer = Buffer.alloc(0);
  const keep = (chunks: Buffer[], have: number, data: Buffer): number => {
    const room = Math.max(0, cap - have);
    if (data.length > room) truncated = true;
    if (room > 0) chunks.push(data.subarray(0, room));
    return have + Math.min(room, data.length);
  };
  return new Promise<ExecResult>((resolve, reject) => {
    let killTimer: NodeJS.Timeout | undefined;
    const deadline =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            conn.write(frame("k"));
            killTimer = setTimeout(() => conn.destroy(), KILL_GRACE_MS);
          }, opts.timeoutMs);
    conn.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        const kind = String.fromCharCode(pending[0] ?? 0);
        const body = pending.subarray(5, 5 + len);
        pending = pending.subarray(5 + len);
        if (kind === "1" || kind === "2") {
          if (kind === "1") outLen = keep(out, outLen, body);
          else errLen = keep(err, errLen, body);
          // Flow control (boxinit.c, RELAY_WINDOW): the box sends more once these bytes are taken.
          const ack = Buffer.alloc(4);
          ack.writeUInt32BE(5 + len, 0);
          conn.write(frame("a", ack));
        } else if (kind === "x" && len === 4) {
          status = body.readUInt32BE(0);
          conn.end();
        } else {
          conn.destroy(new Error(`exec: unknown frame ${JSON.stringify(kind)} from the box`));
        }
      }
    });
    conn.on("error", () => {});
    conn.on("close", () => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      if (status === undefined) {
        if (timedOut) return resolve({ exitCode: 137, stdout, stderr, timedOut, truncated });
        // The sandbox went (or PID 1 refused the request): as `runsc exec` does then, a failed exec.
        return resolve({
          exitCode: 128,
          stdout,
          stderr: Buffer.concat([
            stderr,
            Buffer.from(`boxyard: the box ended the exec of ${ctx.id} without a status\n`),
          ]),
          timedOut,
          truncated,
        });
      }
      const signal = status & 0x7f;
      const exitCode = signal === 0 ? (status >> 8) & 0xff : 128 + signal;
      resolve({ exitCode, stdout, stderr, timedOut, truncated });
    });
    try {
      const stdin = opts.stdin === undefined ? Buffer.alloc(0) : Buffer.from(opts.stdin);
      const frames = [request(ctx, opts)];
      for (let off = 0; off < stdin.length; off += 65536)
        frames.push(frame("i", stdin.subarray(off, off + 65536)));
      frames.push(frame("e"));
      send(Buffer.concat(frames));
      conn.resume();
    } catch (e) {
      clearTimeout(deadline);
      conn.destroy();
      reject(e);
    }
  });
}
