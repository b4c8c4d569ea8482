// The one narrow interface every box runtime driver implements (gvisor, fake,
// later microvm and container). The node agent is its only caller. Every
// method is idempotent: calling it again after a crash half-way through must
// finish the job or be a no-op, never duplicate a resource. Drivers keep
// their own on-disk record of each box so a restarted agent can `list()` and
// re-adopt boxes it did not start in this process.

/** Server-generated box id. Only `[a-z0-9_]`, at most 32 characters. */
export type BoxId = string;

export type EgressPolicy = "deny-all" | "allow-all" | { allow: string[] };

export interface BoxResources {
  /** CPU cores (fractions allowed), enforced as a CFS quota. */
  cpu: number;
  memoryMiB: number;
  /** Size limit of the box's writable disk (root upper dir + volume). */
  diskGiB: number;
  /** Max processes inside the box (RLIMIT_NPROC); the driver picks a default. */
  maxProcesses?: number;
}

export interface BoxSpec {
  id: BoxId;
  /** Hostname inside the box (already validated: DNS label). */
  hostname: string;
  /** Written to /etc/machine-id in the box at prepare (32 lowercase hex digits). */
  machineId?: string;
  /** Read-only image layers, lowest first, as content digests in the node's layer store. */
  layers: string[];
  resources: BoxResources;
  network: { egress: EgressPolicy };
  /** The environment of every exec and session in the box (never for platform-side host processes). */
  env?: Record<string, string>;
}

/** What the driver observes about one box. */
export type ObservedPhase =
  | "prepared" // disks and network exist, no sandbox
  | "running"
  | "paused" // hot pause: sandbox frozen, RAM kept
  | "checkpointed" // cold pause: RAM state on disk, no sandbox
  | "stopped" // sandbox gone, disks kept (same as prepared after a stop)
  | "failed";

export interface BoxObservation {
  id: BoxId;
  phase: ObservedPhase;
  /** Address of the box on the node network, when it has one. */
  address?: string;
  /** Host PID of the sandbox root process while running or paused. */
  pid?: number;
  reason?: string;
  usage?: {
    cpuSeconds?: number;
    memoryBytes?: number;
    diskBytes?: number;
    /** Processes the box's OOM guard killed (as far back as its log goes). */
    oomKills?: number;
  };
  /** The identity the box has now (what its next boot uses too). */
  identity?: BoxIdentity;
  /** The latest processes the box's OOM guard killed, oldest first (at most 20). */
  oomKills?: OomKill[];
  /** With phase failed: the host killed the sandbox itself for lack of memory. */
  oomKilled?: boolean;
}

/** One process killed in a box because the box ran out of memory. */
export interface OomKill {
  /** When, to the second (ISO 8601, UTC). */
  at: string;
  /** Its pid inside the box. */
  pid: number;
  command: string;
  uid: number;
  rssMiB: number;
}

/** Who a box is inside: its hostname and /etc/machine-id. */
export interface BoxIdentity {
  hostname: string;
  machineId?: string;
}

export interface ExecOptions {
  command: string[];
  /** Defaults to the box user `dev` (uid 1000). */
  user?: "dev" | "root";
  /** Defaults to /home/dev. */
  cwd?: string;
  env?: Record<string, string>;
  /** Leave the box's secrets out of the command's environment (for the node's own commands). */
  noSecretsEnv?: boolean;
  /** Kill the command after this long; result has timedOut = true. */
  timeoutMs?: number;
  /** Cap on captured stdout and stderr each; extra output is dropped, truncated = true. */
  maxOutputBytes?: number;
  stdin?: Buffer | string;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  truncated: boolean;
}

/** A streaming session inside the box (SSH shell/exec, web terminal). */
export interface SessionOptions {
  command?: string[]; // default: the user's login shell
  user?: "dev" | "root";
  cwd?: string;
  env?: Record<string, string>;
  /** Allocate a pseudo-terminal of this size. */
  pty?: { cols: number; rows: number; term?: string };
}

export interface Session {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** With a pty, stderr is merged into stdout and this stream stays empty. */
  readonly stderr: NodeJS.ReadableStream;
  resize(cols: number, rows: number): void;
  /** Signal the session's process (e.g. SIGINT, SIGTERM, SIGKILL). */
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code (128+signal when killed). */
  readonly exited: Promise<number>;
}

export interface Runtime {
  readonly name: string;
  /** Create disks, rootfs and network for a box; no process runs yet. */
  prepare(spec: BoxSpec): Promise<BoxObservation>;
  /** Boot the sandbox from prepared disks. Running already: no-op. */
  start(id: BoxId): Promise<BoxObservation>;
  /** End all processes and release compute; disks and network kept. */
  stop(id: BoxId): Promise<BoxObservation>;
  /** Hot pause (freeze in place). */
  pause(id: BoxId): Promise<BoxObservation>;
  /**
   * Cold pause: save RAM and process state to disk and release compute. Open
   * network connections may be dropped (the box's processes see them reset).
   * A box the driver cannot save now is left exactly as it was, running or
   * hot-paused with every process: CheckpointRefusedError (code
   * checkpoint_refused); the caller may try again later.
   */
  checkpoint(id: BoxId): Promise<BoxObservation>;
  /** Resume from hot pause, or restore from a cold-pause checkpoint. */
  resume(id: BoxId): Promise<BoxObservation>;
  exec(id: BoxId, opts: ExecOptions): Promise<ExecResult>;
  session(id: BoxId, opts: SessionOptions): Promise<Session>;
  /** Release everything the box holds: sandbox, network, mounts, cgroups, disks. Absent: no-op. */
  destroy(id: BoxId): Promise<void>;
  /**
   * Gives the box a new identity: hostname, /etc/machine-id and random seed,
   * in the running sandbox at once and for every later boot. A box claimed
   * from a warm pool gets its owner's name this way. Idempotent.
   */
  setIdentity?(id: BoxId, identity: Required<BoxIdentity>): Promise<BoxObservation>;
  /**
   * Puts exactly these secrets in the running box as files in
   * /run/boxyard/secrets/NAME (memory-backed, mode 0400, owned by the box
   * user), removing any others; called again, it replaces them (a rotated
   * value reaches the running box). Every exec and session started after
   * gets each as the environment variable NAME (over the spec's env), read
   * inside the box so no host process carries a value. Drivers that
   * implement it never let a value reach a checkpoint: checkpoint() removes
   * the files first (the caller writes them again after resume) and fails
   * rather than save them, refusing (CheckpointRefusedError) while a process
   * still has one in its environment.
   */
  writeSecrets?(id: BoxId, secrets: readonly { name: string; value: Buffer }[]): Promise<void>;
  /**
   * Keeps what a stopped box changed (its root's changes, /home/dev and
   * /workspace) as a new read-only image layer in the node's store, and
   * returns its digest; a later box lists it over its image's layers. The
   * box's identity (hostname, machine-id, random seed), /run and /tmp are
   * left out. For prebuilds.
   */
  captureLayer?(id: BoxId): Promise<string>;
  /** null when the driver holds nothing for this id. */
  inspect(id: BoxId): Promise<BoxObservation | null>;
  /** Every box the driver holds on this node, including ones started by an earlier agent process. */
  list(): Promise<BoxObservation[]>;
}
