import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runOffThread } from "@boxyard/platform";
import { RuntimeUnavailableError, SandboxError } from "../errors.ts";
import { HostCommandError, hostCommand } from "./host-command.ts";

export type SandboxStatus = "created" | "running" | "paused" | "stopped";

export interface SandboxState {
  status: SandboxStatus;
  pid: number;
}

export interface RunscOptions {
  runscPath: string;
  root: string;
  platform: string;
  /** "sandbox" when boxes get a netns from BoxNetworks, "none" without. */
  network: "sandbox" | "none";
  /**
   * Lets a checkpoint save a box with open TCP connections by aborting them
   * (runsc --net-disconnect-ok); without it netstack refuses to save any
   * connected endpoint, TIME_WAIT included. Applies to sandboxes started
   * with it. Default true.
   */
  netDisconnectOk?: boolean;
}

export interface StartSandboxOptions {
  id: string;
  bundle: string;
  /** Host file that receives runsc's own stdout/stderr (the box's init has its stdio on /dev/null). */
  logPath: string;
  /** Box netns: start runsc inside the mount-namespace recipe of machine-notes.md. */
  netnsPath?: string;
  /** Restore from this checkpoint image instead of booting. */
  imagePath?: string;
  /**
   * Where runsc writes the sandbox's pid once it is up (`--pid-file`): the
   * started sandbox's state is then known without a `runsc state` (a
   * process start, about 80 ms here, on the resume's critical path).
   */
  pidFile?: string;
}

/**
 * runsc checks for /proc/sys/net/core/rmem_default after joining the box
 * netns and refuses to run when it exists, which on this kernel it always
 * does. Mounting a tiny tmpfs over /proc/sys/net/core from inside the box netns,
 * in a private mount namespace that only this runsc invocation uses, hides it
 * without changing any binary (machine-notes.md).
 */
const netnsWrapper =
  'ns="$1"; shift; nsenter --net="$ns" mount -t tmpfs -o size=4k boxyard-hide /proc/sys/net/core && exec "$@"';

export class Runsc {
  constructor(private readonly opts: RunscOptions) {}

  get globalArgs(): string[] {
    return [
      `--root=${this.opts.root}`,
      `--platform=${this.opts.platform}`,
      `--network=${this.opts.network}`,
      ...(this.opts.network === "sandbox" && this.opts.netDisconnectOk !== false
        ? ["--net-disconnect-ok"]
        : []),
      "--overlay2=none",
    ];
  }

  #version: string | undefined;

  get path(): string {
    return this.opts.runscPath;
  }

  /** The first line of `runsc --version`; a success is remembered (every prepare asks). */
  async version(): Promise<string> {
    if (this.#version !== undefined) return this.#version;
    try {
      this.#version =
        (await hostCommand(this.opts.runscPath, ["--version"], { timeoutMs: 10_000 })).stdout.split(
          "\n",
        )[0] ?? "";
      return this.#version;
    } catch (err) {
      throw new RuntimeUnavailableError(`runsc is not usable at ${this.opts.runscPath}`, { cause: err });
    }
  }

  /**
   * What `state` last learnt per id, for a few seconds. Each `runsc state` is a
   * process start (about 50 ms, more on a busy node) and one create asks
   * several times; every command of this object that changes a sandbox drops
   * its entry, and a cached live sandbox whose process has gone reads as
   * stopped, as a fresh answer would.
   */
  readonly #states = new Map<string, { state: SandboxState | null; at: number; sticky?: boolean }>();
  static readonly stateTtlMs = 5_000;

  /**
   * null when runsc has no container of this id; `fresh` asks runsc even when a recent answer is cached.
   * A sandbox this object paused or resumed itself is known without asking:
   * the sandbox's pid does not change, and a frozen sandbox cannot change its
   * own state (only end, which the pid check sees), so "paused" is kept until
   * the next command of this object changes it.
   */
  async state(id: string, opts: { fresh?: boolean } = {}): Promise<SandboxState | null> {
    const hit = opts.fresh ? undefined : this.#states.get(id);
    if (hit && (hit.sticky || Date.now() - hit.at < Runsc.stateTtlMs)) {
      const st = hit.state;
      if (st && (st.status === "running" || st.status === "paused") && !pidAlive(st.pid))
        return { ...st, status: "stopped" };
      return st && { ...st };
    }
    // An answer that a change overtook (runsc read the sandbox before a start,
    // say) is the caller's, never the cache's: it would say for seconds that
    // a box which is running has no sandbox.
    const changesBefore = this.#changes;
    const state = await this.#stateUncached(id);
    if (this.#changes === changesBefore) this.#states.set(id, { state, at: Date.now() });
    return state && { ...state };
  }

  /** How many times a command of this object has changed some sandbox. */
  #changes = 0;

  /** Forgets what `state` learnt about `id` (before and after anything that changes it). */
  #forget(id: string): void {
    this.#changes++;
    this.#states.delete(id);
  }

  async #stateUncached(id: string): Promise<SandboxState | null> {
    // runsc keeps a state file per container in its root (`<id>_sandbox:<sandbox id>.state`):
    // without one it has no such container, and no runsc process needs to say so. A new
    // box's looks before its first start (several per create) are then a directory read.
    const files = await this.#stateFiles(id);
    if (files.length === 0) return null;
    // What `runsc state` prints is that file's status and sandbox pid, checked against the
    // process (below): read it here instead of starting a runsc process. Each such process
    // cost the node's event loop a fork of this large process (~8 s of the server's CPU in
    // a 20-box burst) and the node a Go program's start. A file runsc is rewriting, or one
    // this code does not know, is left to runsc itself.
    const fromFile = files.length === 1 ? await readStateFile(join(this.opts.root, files[0]!)) : undefined;
    if (fromFile !== undefined) return fromFile;
    const r = await this.cmd(["state", id], { check: false });
    if (r.code !== 0) {
      if (/does not exist|not exist|no such/i.test(r.stderr)) return null;
      throw new SandboxError(`runsc state ${id} failed: ${r.stderr.trim()}`);
    }
    const raw = JSON.parse(r.stdout) as { status?: string; pid?: number };
    const state = { status: (raw.status ?? "stopped") as SandboxStatus, pid: raw.pid ?? -1 };
    // runsc reports the last state it wrote: a sandbox killed from outside
    // (the host OOM killer picks the sentry when it is the largest process in
    // the box's memory cgroup) still says "running".
    if ((state.status === "running" || state.status === "paused") && !pidAlive(state.pid))
      state.status = "stopped";
    return state;
  }

  /**
   * The names in runsc's root that may be `id`'s state: none when the root
   * holds nothing named after it (or there is no root yet); a name that is
   * not a state file is passed on too, so the caller asks runsc then.
   */
  async #stateFiles(id: string): Promise<string[]> {
    return (await this.#rootNames()).filter(
      (n) => n === id || (n.startsWith(`${id}_`) && !(n.startsWith(`${id}_sandbox:`) && n.endsWith(".lock"))),
    );
  }

  /** The names in runsc's root (none before the first sandbox made it). */
  async #rootNames(): Promise<string[]> {
    try {
      return readdirSync(this.opts.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  /**
   * The box's processes that `runsc exec` started (parent pid 0, not init):
   * the wrappers of exec calls and sessions, which hold host descriptors.
   */
  async execRoots(id: string): Promise<number[]> {
    const r = await this.cmd(["ps", id]);
    const [head, ...rows] = r.stdout.trim().split("\n");
    const cols = (head ?? "").trim().split(/\s+/);
    const pidAt = cols.indexOf("PID");
    const ppidAt = cols.indexOf("PPID");
    if (pidAt < 0 || ppidAt < 0)
      throw new SandboxError(`runsc ps ${id}: unexpected output ${JSON.stringify(head)}`);
    return rows
      .map((row) => row.trim().split(/\s+/))
      .filter((f) => f[ppidAt] === "0" && f[pidAt] !== "1")
      .map((f) => Number(f[pidAt]))
      .filter((pid) => pid > 1);
  }

  /**
   * The ids of every sandbox under the root. `list -quiet` reads only the
   * state dir; a full `list` calls into each sentry, and waits for as long
   * as one of them is frozen (a hot-paused box).
   */
  async ids(): Promise<string[]> {
    // What `list -quiet` prints: the container id of each state file in the root
    // (`<container>_sandbox:<sandbox>.state`), read here without a runsc process.
    const ids = new Set<string>();
    for (const n of await this.#rootNames()) {
      const m = /^(.+)_sandbox:.+\.state$/.exec(n);
      if (m) ids.add(m[1]!);
    }
    return [...ids].sort();
  }

  /**
   * Records what a change made without runsc did to a sandbox (the driver
   * thawed its cgroup), so `state` answers from the cache as it does after
   * a command of this object.
   */
  assume(id: string, state: SandboxState): void {
    this.#forget(id);
    if (pidAlive(state.pid)) this.#states.set(id, { state: { ...state }, at: Date.now() });
  }

  async kill(id: string, signal: string, opts: { pid?: number; all?: boolean } = {}): Promise<void> {
    const args = ["kill"];
    if (opts.pid !== undefined) args.push(`--pid=${opts.pid}`);
    if (opts.all) args.push("--all");
    // A signal to one process in the box leaves the sandbox as it was.
    if (opts.pid !== undefined) await this.cmd([...args, id, signal]);
    else await this.#changing(id, () => this.cmd([...args, id, signal]));
  }

  /**
   * After a successful delete the sandbox is known gone, for the cache's
   * lifetime as a `state` answer would be: the driver's and the agent's look
   * right after a checkpoint or stop (on a cold resume's critical path when
   * it comes at once) needs no runsc process.
   */
  async delete(id: string): Promise<void> {
    await this.#changing(id, () => this.cmd(["delete", "--force", id]));
    this.#states.set(id, { state: null, at: Date.now() });
  }

  async pause(id: string): Promise<void> {
    await this.#changing(id, () => this.cmd(["pause", id]), "paused");
  }

  async resume(id: string): Promise<void> {
    await this.#changing(id, () => this.cmd(["resume", id]), "running");
  }

  /**
   * Saves the sandbox to `imagePath`. With `leaveRunning` the sandbox is
   * left as it was, also when the save fails (without it runsc ends the
   * sandbox either way); a paused sandbox stays paused.
   */
  async checkpoint(id: string, imagePath: string, opts: { leaveRunning?: boolean } = {}): Promise<void> {
    const args = ["checkpoint", `--image-path=${imagePath}`];
    if (opts.leaveRunning) args.push("--leave-running");
    await this.#changing(id, () => this.cmd([...args, id], { timeoutMs: 300_000 }));
  }

  /**
   * `runsc run --detach` or `runsc restore --detach`; resolves once the
   * sandbox is up. With `pidFile`, the sandbox's pid from it is remembered as
   * running (as `assume` does), so the next `state` needs no runsc process.
   */
  async startDetached(opts: StartSandboxOptions): Promise<void> {
    if (opts.pidFile) rmSync(opts.pidFile, { force: true });
    await this.#changing(opts.id, () => this.#startDetached(opts));
    if (!opts.pidFile) return;
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(opts.pidFile, "utf8").trim());
    } catch {
      // No pid file: the next `state` asks runsc.
    }
    if (Number.isInteger(pid) && pid > 0) this.assume(opts.id, { status: "running", pid });
  }

  /**
   * Runs a command that changes the sandbox, forgetting what `state` knew.
   * With `becomes` (pause, resume), a success on a sandbox whose pid was known
   * and is alive leaves that state known: the next `state` needs no runsc.
   */
  async #changing<T>(id: string, fn: () => Promise<T>, becomes?: SandboxStatus): Promise<T> {
    const pid = this.#states.get(id)?.state?.pid ?? -1;
    this.#forget(id);
    try {
      const out = await fn();
      // A read that began during the command may have seen either side of it.
      this.#forget(id);
      if (becomes && pid > 0 && pidAlive(pid))
        this.#states.set(id, {
          state: { status: becomes, pid },
          at: Date.now(),
          sticky: becomes === "paused",
        });
      return out;
    } catch (err) {
      this.#forget(id);
      throw err;
    }
  }

  async #startDetached(opts: StartSandboxOptions): Promise<void> {
    const pidFile = opts.pidFile ? [`--pid-file=${opts.pidFile}`] : [];
    const sub = opts.imagePath
      ? [
          "restore",
          "--detach",
          ...pidFile,
          `--image-path=${opts.imagePath}`,
          `--bundle=${opts.bundle}`,
          opts.id,
        ]
      : ["run", "--detach", ...pidFile, `--bundle=${opts.bundle}`, opts.id];
    const runscArgv = [this.opts.runscPath, ...this.globalArgs, ...sub];
    const [cmd, args] = opts.netnsPath
      ? [
          "unshare",
          ["-m", "--propagation", "private", "sh", "-c", netnsWrapper, "sh", opts.netnsPath, ...runscArgv],
        ]
      : [runscArgv[0] as string, runscArgv.slice(1)];
    // From a worker thread (off-thread-spawn.ts): a spawn on the event loop blocks it until the child has exec'd.
    // detached: the sandbox gets its own session, so neither a signal to the
    // agent's process group nor the agent's death reaches it.
    const r = await runOffThread({
      file: cmd,
      args,
      cwd: opts.bundle,
      detached: true,
      outputFile: opts.logPath,
      timeoutMs: 120_000,
    });
    if (r.spawnError)
      throw new RuntimeUnavailableError(`cannot start ${cmd}: ${r.spawnError.message}`, {
        cause: Object.assign(new Error(r.spawnError.message), { code: r.spawnError.code }),
      });
    if (r.code === 0) return;
    let detail = "";
    try {
      detail = readFileSync(opts.logPath, "utf8").trim().split("\n").slice(0, 3).join(" | ").slice(0, 2000);
    } catch {}
    throw new SandboxError(`runsc ${sub[0]} ${opts.id} failed (${r.signal ?? r.code}): ${detail}`);
  }

  private async cmd(args: string[], opts: { check?: boolean; timeoutMs?: number } = {}) {
    try {
      return await hostCommand(this.opts.runscPath, [...this.globalArgs, ...args], {
        timeoutMs: opts.timeoutMs ?? 60_000,
        check: opts.check ?? true,
      });
    } catch (err) {
      if (err instanceof HostCommandError && err.errno === "ENOENT") {
        throw new RuntimeUnavailableError(`runsc not found at ${this.opts.runscPath}`, { cause: err });
      }
      if (err instanceof HostCommandError) throw new SandboxError(err.message, { cause: err });
      throw err;
    }
  }
}

/** Whether `pid` is a live process (a zombie is not: its sandbox is gone). */
/**
 * A sandbox's state from runsc's state file, as `runsc state` gives it: the
 * container's status and its sandbox's pid; a live status whose process has
 * gone reads as stopped. undefined when the file cannot say (gone, being
 * rewritten, or in a form this code does not know): ask runsc then.
 */
export async function readStateFile(path: string): Promise<SandboxState | null | undefined> {
  let raw: { status?: unknown; sandbox?: { pid?: unknown } };
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
  const status = raw?.status;
  const pid = raw?.sandbox?.pid;
  if (typeof status !== "string" || !KNOWN_STATUSES.has(status)) return undefined;
  if (typeof pid !== "number" || !Number.isInteger(pid)) return undefined;
  const state: SandboxState = { status: status as SandboxStatus, pid };
  if ((state.status === "running" || state.status === "paused") && !pidAlive(state.pid))
    state.status = "stopped";
  return state;
}

const KNOWN_STATUSES = new Set<string>(["created", "running", "paused", "stopped"]);

function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
