// The spawner (spawner/spawner.c): a small helper process that starts the
// server's short host commands with posix_spawn, so the server never forks.
//
// Every fork of the server copies its page tables, and after it every page the
// server (or V8's collector) writes takes a copy-on-write fault and a TLB
// shootdown on each CPU: in a 20-box burst on two cores a third of the
// server's CPU went to forks (perf; bench/README.md). The helper is forked
// once, while small, and makes each command with CLONE_VM|CLONE_VFORK.
//
// It is built with gcc on first use into ~/.cache/boxyard (or
// BOXYARD_SPAWNER_DIR), per source version. Until it is ready, or where it
// cannot be built or keeps dying, commands go through the worker threads
// (off-thread-spawn.ts) as before. BOXYARD_SPAWNER=off turns it off.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { constants, homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { OffThreadCommand, OffThreadRawResult } from "./off-thread-spawn.ts";

const F_INPUT = 1;
const F_DETACHED = 2;
const F_OUTFILE = 4;
const F_CWD = 8;

/** The C source: beside the bundle (dist/spawner/spawner.c, copied by scripts/build.mjs) or in the source tree. */
const source = [
  fileURLToPath(new URL("./spawner/spawner.c", import.meta.url)),
  fileURLToPath(new URL("../spawner/spawner.c", import.meta.url)),
].find((p) => existsSync(p));

interface Pending {
  resolve: (r: OffThreadRawResult) => void;
  reject: (err: Error) => void;
}

interface Helper {
  child: ChildProcess;
  pending: Map<number, Pending>;
  buffered: Buffer;
}

type State = "idle" | "building" | "unavailable" | Helper;
let state: State = "idle";
let binary: string | undefined;
let deaths = 0;
let nextId = 1;
const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Whether the spawner runs now (for tests and diagnostics). */
export function spawnerRunning(): boolean {
  return typeof state === "object";
}

/**
 * The helper when it is running; otherwise undefined, and its build or start
 * is begun in the background (the caller uses the worker threads meanwhile).
 */
export function spawnerHelper(): Helper | undefined {
  if (typeof state === "object") return state;
  if (state === "idle" && process.env.BOXYARD_SPAWNER !== "off") {
    state = "building";
    prepare().then(
      (ok) => {
        if (state === "building") state = ok ? "idle" : "unavailable";
        if (ok && state === "idle") startHelper();
      },
      () => {
        state = "unavailable";
      },
    );
  }
  return undefined;
}

/** Finds or builds the binary; false when it cannot be had here. */
async function prepare(): Promise<boolean> {
  if (binary !== undefined) return true;
  if (!source) return false;
  const text = await readFile(source);
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const dir = process.env.BOXYARD_SPAWNER_DIR ?? join(homedir(), ".cache", "boxyard");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A directory others can write to could hold someone else's binary.
  const st = await stat(dir);
  if (st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return false;
  const target = join(dir, `spawner-${hash}`);
  if (!existsSync(target)) {
    const tmp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
    const built = await new Promise<boolean>((resolve) => {
      const cc = spawn("gcc", ["-O2", "-Wall", "-o", tmp, source], { stdio: "ignore" });
      cc.on("error", () => resolve(false));
      cc.on("exit", (code) => resolve(code === 0));
    });
    if (!built) {
      await rm(tmp, { force: true });
      return false;
    }
    await chmod(tmp, 0o700);
    await rename(tmp, target);
    // Earlier versions' binaries go (a helper still running from one keeps its file until it exits).
    for (const name of await readdir(dir))
      if (/^spawner-[0-9a-f]{16}$/.test(name) && name !== `spawner-${hash}`)
        await rm(join(dir, name), { force: true });
  }
  binary = target;
  return true;
}

function startHelper(): void {
  if (binary === undefined) return;
  const child = spawn(binary, [], { stdio: ["pipe", "pipe", "inherit"] });
  const helper: Helper = { child, pending: new Map(), buffered: Buffer.alloc(0) };
  state = helper;
  idle(helper);
  child.stdin?.on("error", () => {});
  child.stdout?.on("data", (chunk: Buffer) => {
    helper.buffered = helper.buffered.length ? Buffer.concat([helper.buffered, chunk]) : chunk;
    readReplies(helper);
  });
  const gone = (why: string) => {
    if (state === helper) state = ++deaths >= 3 ? "unavailable" : "idle";
    const err = new Error(`the spawner ${why}`);
    for (const p of helper.pending.values()) p.reject(err);
    helper.pending.clear();
  };
  child.on("error", (e) => gone(`failed: ${e.message}`));
  child.on("exit", (code, signal) => gone(`exited (${signal ?? code})`));
}

/** With nothing in flight the helper does not keep the process alive. */
function idle(helper: Helper): void {
  helper.child.unref();
  (helper.child.stdin as unknown as { unref?: () => void })?.unref?.();
  (helper.child.stdout as unknown as { unref?: () => void })?.unref?.();
}

function busy(helper: Helper): void {
  helper.child.ref();
  (helper.child.stdin as unknown as { ref?: () => void })?.ref?.();
  (helper.child.stdout as unknown as { ref?: () => void })?.ref?.();
}

function readReplies(helper: Helper): void {
  let buf = helper.buffered;
  while (buf.length >= 4) {
    const len = buf.readUInt32LE(0);
    if (buf.length < 4 + len) break;
    const m = buf.subarray(4, 4 + len);
    buf = buf.subarray(4 + len);
    const id = m.readUInt32LE(0);
    const kind = m.readUInt32LE(4);
    const value = m.readInt32LE(8);
    const truncated = m.readUInt32LE(12) !== 0;
    const outLen = m.readUInt32LE(16);
    const errLen = m.readUInt32LE(20);
    // Copies: a view would keep the whole read chunk alive.
    const stdout = Buffer.from(m.subarray(24, 24 + outLen));
    const stderr = Buffer.from(m.subarray(24 + outLen, 24 + outLen + errLen));
    const p = helper.pending.get(id);
    if (!p) continue;
    helper.pending.delete(id);
    if (helper.pending.size === 0) idle(helper);
    if (kind === 2) {
      const [code, message] = m
        .subarray(24 + outLen + errLen)
        .toString("utf8")
        .split("\0");
      p.resolve({
        code: null,
        signal: null,
        stdout: Buffer.alloc(0),
        stderr: Buffer.alloc(0),
        truncated: false,
        spawnError: { code: code || undefined, message: message ?? "cannot start" },
      });
    } else if (kind === 1) {
      p.resolve({ code: null, signal: signalNames.get(value) ?? null, stdout, stderr, truncated });
    } else {
      p.resolve({ code: value, signal: null, stdout, stderr, truncated });
    }
  }
  helper.buffered = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
}

/** Runs a command through the helper. */
export function viaSpawner(helper: Helper, cmd: OffThreadCommand): Promise<OffThreadRawResult> {
  const id = nextId++;
  const env = Object.entries(process.env)
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const argv = [cmd.file, ...cmd.args];
  let flags = 0;
  if (cmd.input !== undefined) flags |= F_INPUT;
  if (cmd.detached) flags |= F_DETACHED;
  if (cmd.outputFile !== undefined) flags |= F_OUTFILE;
  if (cmd.cwd !== undefined) flags |= F_CWD;
  const strings = [cmd.file, ...argv, ...env];
  if (cmd.cwd !== undefined) strings.push(cmd.cwd);
  if (cmd.outputFile !== undefined) strings.push(cmd.outputFile);
  for (const s of strings)
    if (s.includes("\0"))
      return Promise.reject(new Error("a command, argument or path cannot hold a NUL byte"));
  const input =
    cmd.input === undefined
      ? Buffer.alloc(0)
      : typeof cmd.input === "string"
        ? Buffer.from(cmd.input)
        : cmd.input;
  const text = Buffer.from(`${strings.join("\0")}\0`, "utf8");
  const head = Buffer.alloc(4 + 24);
  const timeout = cmd.timeoutMs === undefined ? 60_000 : cmd.timeoutMs === null ? -1 : cmd.timeoutMs;
  head.writeUInt32LE(24 + text.length + 4 + input.length, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(flags, 8);
  head.writeInt32LE(Math.min(timeout, 0x7fffffff), 12);
  head.writeUInt32LE(cmd.maxOutputBytes ?? 1 << 20, 16);
  head.writeUInt32LE(argv.length, 20);
  head.writeUInt32LE(env.length, 24);
  const inLen = Buffer.alloc(4);
  inLen.writeUInt32LE(input.length, 0);
  // One buffer of our own (the caller's bytes are left as they were), wiped once the pipe has it.
  const frame = Buffer.concat([head, text, inLen, input]);
  return new Promise((resolve, reject) => {
    helper.pending.set(id, { resolve, reject });
    busy(helper);
    helper.child.stdin?.write(frame, () => frame.fill(0));
  });
}
