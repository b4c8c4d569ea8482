// Short host commands (mount, mkfs, ip, nft...) spawned from worker threads.
//
// Node's spawn is synchronous up to the child's exec: libuv forks the whole
// process (page tables of a server's few hundred MiB) and then waits on a pipe
// until the child has called exec, so it can report ENOENT. On a quiet node
// that is 6-10 ms of the event loop per command; on a busy one the child waits
// for a CPU before it gets to exec, and in a 20-box burst on two cores the
// server's event loop spent ~8 s inside spawn(), in front of every API
// request, reconcile and agent step. Spawning from a worker thread leaves only
// the page-table copy on the process (it holds the memory map's lock while it
// copies) and moves the wait off the event loop.
//
// Commands that run to their end go through here (their output comes back
// whole, or goes to a file); sessions, with streams both ways, keep their own
// spawn. Where the spawner helper runs (spawner.ts), it starts them instead and
// the server does not fork at all; the worker threads are the fallback.

import { SHARE_ENV, Worker } from "node:worker_threads";
import { spawnerHelper, viaSpawner } from "./spawner.ts";

export interface OffThreadCommand {
  file: string;
  args: readonly string[];
  /**
   * Written to the command's stdin, then closed; without it stdin is /dev/null.
   * Bytes are copied once and moved to the worker, which zeroes its copy once
   * written (a secret's value travels this way; the caller zeroes its own).
   */
  input?: string | Uint8Array;
  cwd?: string;
  /** SIGKILL after this long (default 60 s; null: never). */
  timeoutMs?: number | null;
  /** Output kept per stream (default 1 MiB); the rest is read and dropped. */
  maxOutputBytes?: number;
  /** stdout and stderr go to this file (created or truncated, mode 0600) instead of the result. */
  outputFile?: string;
  /** A session of its own (setsid): a signal to this process's group does not reach it. */
  detached?: boolean;
}

export interface OffThreadResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command could not be started (ENOENT, EACCES...): nothing ran. */
  spawnError?: { code?: string; message: string };
}

/** The same with the output as bytes, and whether either stream was cut at maxOutputBytes. */
export interface OffThreadRawResult extends Omit<OffThreadResult, "stdout" | "stderr"> {
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
}

// Plain CommonJS for an eval'd worker: it is not bundled, so it needs nothing but Node.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { spawn } = require("node:child_process");
const { openSync, closeSync } = require("node:fs");
parentPort.on("message", (m) => {
  let done = false;
  const none = new Uint8Array(0);
  const reply = (r) => {
    if (done) return;
    done = true;
    parentPort.postMessage({ id: m.id, ...r });
  };
  const failed = (e) =>
    reply({ code: null, signal: null, stdout: none, stderr: none, truncated: false,
            spawnError: { code: e.code, message: String(e.message) } });
  let child;
  let fd = -1;
  try {
    if (m.outputFile !== undefined) fd = openSync(m.outputFile, "w", 0o600);
    const stdin = m.input === undefined ? "ignore" : "pipe";
    const stdio = fd >= 0 ? [stdin, fd, fd] : [stdin, "pipe", "pipe"];
    child = spawn(m.file, m.args, { stdio, cwd: m.cwd, detached: m.detached === true });
  } catch (e) {
    failed(e);
    return;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  const out = [];
  const err = [];
  let outLen = 0;
  let errLen = 0;
  child.stdout?.on("data", (b) => { if (outLen < m.max) out.push(b); outLen += b.length; });
  child.stderr?.on("data", (b) => { if (errLen < m.max) err.push(b); errLen += b.length; });
  const timer = m.timeoutMs === null ? undefined : setTimeout(() => child.kill("SIGKILL"), m.timeoutMs);
  child.on("error", (e) => {
    // Only a failed start ends the request here; other errors (a failed kill) wait for the exit.
    if (child.pid !== undefined) return;
    clearTimeout(timer);
    failed(e);
  });
  if (m.input !== undefined) {
    // A command that exits before reading its input closes the pipe: its status is the answer, not EPIPE.
    child.stdin.on("error", () => {});
    const wipe = () => { if (typeof m.input !== "string") m.input.fill(0); };
    child.stdin.end(m.input, wipe);
    child.stdin.on("close", wipe);
  }
  child.on("close", (code, signal) => {
    clearTimeout(timer);
    // A copy of exactly the bytes kept: a view would send the whole of a pooled buffer along.
    const cut = (parts, n) => new Uint8Array(Buffer.concat(parts).subarray(0, n));
    reply({ code, signal, stdout: cut(out, m.max), stderr: cut(err, m.max), truncated: outLen > m.max || errLen > m.max });
  });
});
`;

/** What the worker answers (before the bytes become Buffers). */
interface WorkerReply extends Omit<OffThreadRawResult, "stdout" | "stderr"> {
  stdout: Uint8Array;
  stderr: Uint8Array;
}

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

const POOL_SIZE = 2;
const slots: (Slot | undefined)[] = [];
let nextId = 1;

function newSlot(index: number): Slot {
  const worker = new Worker(WORKER_SOURCE, { eval: true, env: SHARE_ENV, name: "boxyard-spawn" });
  const slot: Slot = { worker, pending: new Map() };
  // An idle worker does not keep the process alive; one with a command running does.
  worker.unref();
  worker.on("message", (r: WorkerReply & { id: number }) => {
    const p = slot.pending.get(r.id);
    if (!p) return;
    slot.pending.delete(r.id);
    if (slot.pending.size === 0) worker.unref();
    const { id: _id, ...result } = r;
    p.resolve(result);
  });
  const fail = (err: Error) => {
    // A worker that died takes its requests with it; the next request starts a new one.
    if (slots[index] === slot) slots[index] = undefined;
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`the spawn worker exited (${code})`)));
  return slot;
}

/** An idle worker, else a new one while the pool has room, else the least busy. */
function pickSlot(): Slot {
  const idle = slots.find((s) => s !== undefined && s.pending.size === 0);
  if (idle) return idle;
  for (let i = 0; i < POOL_SIZE; i++) {
    if (slots[i] === undefined) {
      const s = newSlot(i);
      slots[i] = s;
      return s;
    }
  }
  return (slots as Slot[]).reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
}

/** Runs a command to its end from a worker thread and returns its whole output as text. */
export async function runOffThread(cmd: OffThreadCommand): Promise<OffThreadResult> {
  const { truncated: _t, stdout, stderr, ...rest } = await runOffThreadRaw(cmd);
  return { ...rest, stdout: stdout.toString("utf8"), stderr: stderr.toString("utf8") };
}

/** Runs a command to its end (through the spawner, else from a worker thread) and returns its whole output as bytes. */
export function runOffThreadRaw(cmd: OffThreadCommand): Promise<OffThreadRawResult> {
  const helper = spawnerHelper();
  if (helper) return viaSpawner(helper, cmd);
  return viaWorker(cmd);
}

/** The worker-thread path (exported for tests: it is what runs where the spawner cannot). */
export function viaWorker(cmd: OffThreadCommand): Promise<OffThreadRawResult> {
  const slot = pickSlot();
  const id = nextId++;
  // Bytes go as a copy of our own, moved (not cloned) to the worker, which zeroes it once written.
  const input = typeof cmd.input === "object" ? new Uint8Array(cmd.input) : cmd.input;
  return new Promise((resolve, reject) => {
    slot.pending.set(id, {
      resolve: (r) => resolve({ ...r, stdout: toBuffer(r.stdout), stderr: toBuffer(r.stderr) }),
      reject,
    });
    slot.worker.ref();
    slot.worker.postMessage(
      {
        id,
        file: cmd.file,
        args: [...cmd.args],
        input,
        cwd: cmd.cwd,
        timeoutMs: cmd.timeoutMs === undefined ? 60_000 : cmd.timeoutMs,
        max: cmd.maxOutputBytes ?? 1 << 20,
        outputFile: cmd.outputFile,
        detached: cmd.detached,
      },
      typeof input === "object" ? [input.buffer] : [],
    );
  });
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
