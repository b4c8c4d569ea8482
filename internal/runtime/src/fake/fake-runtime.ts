// An in-memory runtime driver for control-plane and agent tests. It keeps the
// same phases and idempotence rules as the real drivers and passes the
// conformance suite, runs no host process, and is deterministic: sandbox PIDs
// and in-box PIDs come from counters. `failNext` makes the next call of a
// method throw, to test the callers' retry and failure paths.

import { createHash } from "node:crypto";
import {
  assertBoxId,
  BoxNotFoundError,
  InvalidBoxStateError,
  ResourcesExceedLimitsError,
  RuntimeError,
} from "../errors.ts";
import type {
  BoxId,
  BoxIdentity,
  BoxObservation,
  BoxSpec,
  ExecOptions,
  ExecResult,
  ObservedPhase,
  OomKill,
  Runtime,
  Session,
  SessionOptions,
} from "../runtime.ts";
import { type FakeBoxState, runFakeCommand } from "./fake-shell.ts";
import { startFakeSession } from "./fake-session.ts";

interface FakeBox extends FakeBoxState {
  spec: BoxSpec;
  phase: ObservedPhase;
  sandboxPid?: number;
  reason?: string;
  oomKilled?: boolean;
  oomKills?: OomKill[];
}

/** The node's "disk": share one between several FakeRuntime objects to model an agent restart. */
/** Where writeSecrets puts a box's secrets (as the gVisor driver does). */
export const SECRETS_DIR = "/run/boxyard/secrets";

/** The box's secrets as its commands' environment variables (as the gVisor driver's in-box wrapper reads them). */
function secretsEnv(files: ReadonlyMap<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [path, value] of files)
    if (path.startsWith(`${SECRETS_DIR}/`)) env[path.slice(SECRETS_DIR.length + 1)] = value;
  return env;
}

export class FakeNodeState {
  readonly boxes = new Map<BoxId, FakeBox>();
  /** Layers captureLayer made: digest -> the files a box listing it starts with. */
  readonly layers = new Map<string, Map<string, string>>();
  nextSandboxPid = 10_000;
}

export type FakeMethod =
  | "prepare"
  | "start"
  | "stop"
  | "pause"
  | "checkpoint"
  | "resume"
  | "exec"
  | "session"
  | "destroy"
  | "setIdentity"
  | "writeSecrets"
  | "captureLayer"
  | "inspect"
  | "list";

export interface FakeRuntimeOptions {
  state?: FakeNodeState;
  /** Resource ceilings of the pretend node; beyond them prepare throws ResourcesExceedLimitsError. */
  limits?: { cpu?: number; memoryMiB?: number; diskGiB?: number };
}

export class FakeRuntime implements Runtime {
  readonly name = "fake";
  readonly state: FakeNodeState;
  private readonly limits: NonNullable<FakeRuntimeOptions["limits"]>;
  private readonly failures = new Map<FakeMethod, Error[]>();

  constructor(opts: FakeRuntimeOptions = {}) {
    this.state = opts.state ?? new FakeNodeState();
    this.limits = opts.limits ?? {};
  }

  /** The next call of `method` throws `error` (default: an injected RuntimeError). Queues when called repeatedly. */
  failNext(
    method: FakeMethod,
    error: Error = new RuntimeError("injected_failure", `injected failure in ${method}`),
  ): void {
    const q = this.failures.get(method) ?? [];
    q.push(error);
    this.failures.set(method, q);
  }

  /** Makes a running box fail as if its sandbox died (`oom`: killed by the host for lack of memory). */
  crash(id: BoxId, reason: string, opts: { oom?: boolean } = {}): void {
    const box = this.box(id);
    box.phase = "failed";
    box.reason = reason;
    if (opts.oom) box.oomKilled = true;
    box.sandboxPid = undefined;
    box.processes.clear();
  }

  /** Records a process killed in the box for lack of memory, as a box's OOM guard would. */
  oomKill(id: BoxId, kill: Omit<OomKill, "at" | "pid"> & Partial<Pick<OomKill, "at" | "pid">>): OomKill {
    const box = this.box(id);
    const k: OomKill = {
      at: kill.at ?? new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      pid: kill.pid ?? box.nextPid++,
      command: kill.command,
      uid: kill.uid,
      rssMiB: kill.rssMiB,
    };
    box.oomKills = [...(box.oomKills ?? []), k].slice(-20);
    return k;
  }

  async prepare(spec: BoxSpec): Promise<BoxObservation> {
    this.enter("prepare");
    assertBoxId(spec.id);
    const existing = this.state.boxes.get(spec.id);
    if (existing) return this.observe(existing);
    const { cpu, memoryMiB, diskGiB } = this.limits;
    const r = spec.resources;
    if (
      (cpu !== undefined && r.cpu > cpu) ||
      (memoryMiB !== undefined && r.memoryMiB > memoryMiB) ||
      (diskGiB !== undefined && r.diskGiB > diskGiB)
    ) {
      throw new ResourcesExceedLimitsError(`box ${spec.id} asks for more than this node allows`);
    }
    const box: FakeBox = { spec, phase: "prepared", files: new Map(), processes: new Map(), nextPid: 100 };
    for (const digest of spec.layers)
      for (const [path, content] of this.state.layers.get(digest) ?? []) box.files.set(path, content);
    box.files.set("/etc/hostname", `${spec.hostname}\n`);
    if (spec.machineId !== undefined) box.files.set("/etc/machine-id", `${spec.machineId}\n`);
    this.state.boxes.set(spec.id, box);
    return this.observe(box);
  }

  async start(id: BoxId): Promise<BoxObservation> {
    this.enter("start");
    const box = this.box(id);
    if (box.phase === "running") return this.observe(box);
    if (box.phase === "paused" || box.phase === "checkpointed")
      throw new InvalidBoxStateError(id, box.phase, "start (resume it)");
    box.phase = "running";
    box.reason = undefined;
    box.oomKilled = undefined;
    box.sandboxPid = this.state.nextSandboxPid++;
    box.processes.set(1, "/.boxyard/init ");
    return this.observe(box);
  }

  async stop(id: BoxId): Promise<BoxObservation> {
    this.enter("stop");
    const box = this.box(id);
    if (box.phase === "prepared" || box.phase === "stopped") return this.observe(box);
    box.phase = "stopped";
    box.sandboxPid = undefined;
    box.processes.clear();
    // /tmp and /run/boxyard are tmpfs in the box: they do not survive a stop.
    for (const path of [...box.files.keys()])
      if (path.startsWith("/tmp/") || path.startsWith(`${SECRETS_DIR}/`)) box.files.delete(path);
    return this.observe(box);
  }

  async writeSecrets(id: BoxId, secrets: readonly { name: string; value: Buffer }[]): Promise<void> {
    this.enter("writeSecrets");
    const box = this.box(id);
    if (box.phase !== "running") throw new InvalidBoxStateError(id, box.phase, "write secrets");
    for (const path of [...box.files.keys()]) if (path.startsWith(`${SECRETS_DIR}/`)) box.files.delete(path);
    for (const s of secrets) box.files.set(`${SECRETS_DIR}/${s.name}`, s.value.toString("utf8"));
  }

  async pause(id: BoxId): Promise<BoxObservation> {
    this.enter("pause");
    const box = this.box(id);
    if (box.phase === "paused") return this.observe(box);
    if (box.phase !== "running") throw new InvalidBoxStateError(id, box.phase, "pause");
    box.phase = "paused";
    return this.observe(box);
  }

  async checkpoint(id: BoxId): Promise<BoxObservation> {
    this.enter("checkpoint");
    const box = this.box(id);
    if (box.phase === "checkpointed") return this.observe(box);
    if (box.phase !== "running" && box.phase !== "paused")
      throw new InvalidBoxStateError(id, box.phase, "checkpoint");
    // Secrets never enter a checkpoint (the Runtime contract).
    for (const path of [...box.files.keys()]) if (path.startsWith(`${SECRETS_DIR}/`)) box.files.delete(path);
    box.phase = "checkpointed";
    box.sandboxPid = undefined;
    return this.observe(box);
  }

  async resume(id: BoxId): Promise<BoxObservation> {
    this.enter("resume");
    const box = this.box(id);
    if (box.phase === "running") return this.observe(box);
    if (box.phase === "checkpointed") box.sandboxPid = this.state.nextSandboxPid++;
    else if (box.phase !== "paused") throw new InvalidBoxStateError(id, box.phase, "resume");
    box.phase = "running";
    return this.observe(box);
  }

  async exec(id: BoxId, opts: ExecOptions): Promise<ExecResult> {
    this.enter("exec");
    const box = this.box(id);
    if (box.phase !== "running") throw new InvalidBoxStateError(id, box.phase, "exec");
    const uid = opts.user === "root" ? 0 : 1000;
    const home = uid === 0 ? "/root" : "/home/dev";
    const out = runFakeCommand(box, {
      argv: opts.command,
      uid,
      cwd: opts.cwd ?? "/home/dev",
      env: { HOME: home, ...box.spec.env, ...opts.env, ...(opts.noSecretsEnv ? {} : secretsEnv(box.files)) },
      stdin: opts.stdin === undefined ? "" : opts.stdin.toString(),
      timeoutMs: opts.timeoutMs,
    });
    const cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    const truncated = out.stdout.length > cap || out.stderr.length > cap;
    return {
      exitCode: out.exitCode,
      stdout: out.stdout.subarray(0, Math.min(out.stdout.length, cap)),
      stderr: out.stderr.subarray(0, Math.min(out.stderr.length, cap)),
      timedOut: out.timedOut,
      truncated,
    };
  }

  async session(id: BoxId, opts: SessionOptions): Promise<Session> {
    this.enter("session");
    const box = this.box(id);
    if (box.phase !== "running") throw new InvalidBoxStateError(id, box.phase, "open a session");
    return startFakeSession({ command: opts.command ?? ["sh", "-l"], pty: opts.pty, onExit: () => {} });
  }

  async setIdentity(id: BoxId, identity: Required<BoxIdentity>): Promise<BoxObservation> {
    this.enter("setIdentity");
    const box = this.box(id);
    if (box.phase === "paused" || box.phase === "checkpointed")
      throw new InvalidBoxStateError(id, box.phase, "set its identity");
    box.spec = { ...box.spec, hostname: identity.hostname, machineId: identity.machineId };
    box.files.set("/etc/hostname", `${identity.hostname}\n`);
    box.files.set("/etc/machine-id", `${identity.machineId}\n`);
    return this.observe(box);
  }

  async captureLayer(id: BoxId): Promise<string> {
    this.enter("captureLayer");
    const box = this.box(id);
    if (box.phase !== "stopped" && box.phase !== "prepared")
      throw new InvalidBoxStateError(id, box.phase, "capture a layer (stop it first)");
    const files = new Map(
      [...box.files].filter(([path]) => path !== "/etc/hostname" && path !== "/etc/machine-id"),
    );
    const hash = createHash("sha256");
    for (const [path, content] of [...files].sort(([a], [b]) => a.localeCompare(b)))
      hash.update(`${path}\0${content}\0`);
    const digest = `sha256:${hash.digest("hex")}`;
    this.state.layers.set(digest, files);
    return digest;
  }

  async destroy(id: BoxId): Promise<void> {
    this.enter("destroy");
    assertBoxId(id);
    this.state.boxes.delete(id);
  }

  async inspect(id: BoxId): Promise<BoxObservation | null> {
    this.enter("inspect");
    assertBoxId(id);
    const box = this.state.boxes.get(id);
    return box ? this.observe(box) : null;
  }

  async list(): Promise<BoxObservation[]> {
    this.enter("list");
    return [...this.state.boxes.values()].map((b) => this.observe(b));
  }

  private enter(method: FakeMethod): void {
    const err = this.failures.get(method)?.shift();
    if (err) throw err;
  }

  private box(id: BoxId): FakeBox {
    assertBoxId(id);
    const box = this.state.boxes.get(id);
    if (!box) throw new BoxNotFoundError(id);
    return box;
  }

  private observe(box: FakeBox): BoxObservation {
    let diskBytes = 0;
    for (const content of box.files.values()) diskBytes += Buffer.byteLength(content);
    const obs: BoxObservation = {
      id: box.spec.id,
      phase: box.phase,
      usage: { cpuSeconds: 0, memoryBytes: 0, diskBytes },
      identity: {
        hostname: box.spec.hostname,
        ...(box.spec.machineId !== undefined ? { machineId: box.spec.machineId } : {}),
      },
    };
    if (box.sandboxPid !== undefined) obs.pid = box.sandboxPid;
    if (box.reason !== undefined) obs.reason = box.reason;
    if (box.oomKilled) obs.oomKilled = true;
    if (box.oomKills?.length) obs.oomKills = box.oomKills.map((k) => ({ ...k }));
    return obs;
  }
}
