// Messages between the control plane and a node agent. Both sides parse
// what they receive with these schemas, so a skewed or hostile peer is
// rejected at the boundary instead of deep inside the reconciler.

import { z } from "zod";

export const Capacity = z.strictObject({
  cpu: z.number().nonnegative(),
  memoryMiB: z.int().nonnegative(),
  diskGiB: z.int().nonnegative(),
  gpus: z.int().nonnegative(),
});
export type Capacity = z.infer<typeof Capacity>;

export const NodeRegistration = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,62})$/),
  runtime: z.string().min(1),
  capacity: Capacity,
  labels: z.record(z.string(), z.string()).default({}),
  /** Image keys (see imageKey) whose layers are already in the node's layer store. */
  cachedImages: z.array(z.string()).default([]),
  agentVersion: z.string(),
});
export type NodeRegistration = z.input<typeof NodeRegistration>;

export const Registered = z.strictObject({ nodeId: z.string() });
export type Registered = z.infer<typeof Registered>;

export const Heartbeat = z.strictObject({
  usage: z.strictObject({ boxes: z.int().nonnegative(), running: z.int().nonnegative() }),
  health: z.strictObject({ ok: z.boolean(), detail: z.string().optional() }),
  cachedImages: z.array(z.string()).optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

/** The phase the control plane wants a box in on this node. */
export const DesiredPhase = z.enum(["running", "stopped", "paused", "absent"]);
export type DesiredPhase = z.infer<typeof DesiredPhase>;

export const ImageSpec = z.union([
  z.strictObject({ base: z.string(), packages: z.array(z.string()).optional() }),
  z.strictObject({ oci: z.string() }),
]);
export type ImageSpec = z.infer<typeof ImageSpec>;

export const EgressPolicy = z.union([
  z.literal("deny-all"),
  z.literal("allow-all"),
  z.strictObject({ allow: z.array(z.string()) }),
]);

export type EgressPolicy = z.infer<typeof EgressPolicy>;

export const BoxResources = z.strictObject({
  cpu: z.number().positive(),
  memoryMiB: z.int().positive(),
  diskGiB: z.int().positive(),
  gpus: z.int().nonnegative(),
});
export type BoxResources = z.infer<typeof BoxResources>;

export const BoxRepo = z.strictObject({
  url: z.string().max(2048),
  /** A branch, tag or full commit id; absent: the remote's default branch. */
  ref: z.string().max(255).optional(),
  /** A secret (one of the box's) used as the HTTP password; the user name is x-access-token. */
  secret: z.string().max(128).optional(),
});
export type BoxRepo = z.infer<typeof BoxRepo>;

export const BoxPrebuild = z.strictObject({
  id: z.string().max(64),
  layer: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  commit: z.string().max(64).nullable(),
});
export type BoxPrebuild = z.infer<typeof BoxPrebuild>;

/** Everything a node needs to run one box, with no further look-ups. */
export const DesiredBox = z.strictObject({
  boxId: z.string(),
  generation: z.int().positive(),
  phase: DesiredPhase,
  spec: z.strictObject({
    hostname: z.string(),
    /**
     * The box's /etc/machine-id. With it the agent keeps the box's identity
     * (hostname, machine-id) as published, also in a running box: a box
     * claimed from a warm pool changes name and identity while it runs.
     */
    machineId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional(),
    image: ImageSpec,
    resources: BoxResources,
    network: z.strictObject({ egress: EgressPolicy }),
    /**
     * Names of the secrets the box gets as files, and as environment
     * variables of its sessions (values come from
     * ControlPlaneLink.fetchBoxSecrets while the box runs). `revision`
     * changes when whose secrets they are changes (a box claimed from a warm
     * pool gets its owner's) and when a value is set, rotated or deleted:
     * the node delivers them again into the running box.
     */
    secrets: z
      .strictObject({ names: z.array(z.string()).max(100), revision: z.string().max(200) })
      .optional(),
    /** A repository cloned into /workspace at the box's first start (as the box user, inside the box). */
    repo: BoxRepo.optional(),
    /**
     * The prebuild the box starts from: its layer goes over the image's
     * layers, and the checkout in it is brought to `repo.ref` at the first
     * start (only what changed since `commit` is fetched).
     */
    prebuild: BoxPrebuild.optional(),
    /** The environment of every command and session in the box (never secrets). */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(32 * 1024)).optional(),
    /**
     * Shell commands run in order, as the box user in /workspace, in the
     * background each time the box's sandbox boots (not on resume), once its
     * secrets and checkout are in place.
     */
    onStart: z.array(z.string().max(8192)).max(20).optional(),
  }),
  /** With phase paused: checkpoint to disk now rather than after the node's hot-pause delay. */
  coldPause: z.boolean().optional(),
});
export type DesiredBox = z.infer<typeof DesiredBox>;

/**
 * Level-triggered: the full list of boxes the node should hold. A box the
 * node holds that is not listed is unwanted and may be destroyed, but only
 * on the strength of a set that was fetched successfully.
 */
export const DesiredSet = z.strictObject({
  nodeId: z.string(),
  version: z.int().nonnegative(),
  boxes: z.array(DesiredBox),
});
export type DesiredSet = z.infer<typeof DesiredSet>;

/** What the agent sees a box as: the Runtime's ObservedPhase, or absent. */
export const ObservedPhase = z.enum([
  "prepared",
  "running",
  "paused",
  "checkpointed",
  "stopped",
  "failed",
  "absent",
]);
export type ObservedPhase = z.infer<typeof ObservedPhase>;

export const BoxReport = z.strictObject({
  boxId: z.string(),
  /** The generation of the desired entry the agent last acted on. */
  generation: z.int().nonnegative(),
  /**
   * Strictly increasing per agent across restarts (clock-based), so a
   * reordered or duplicated report of the same generation is recognised.
   */
  seq: z.int().nonnegative(),
  phase: ObservedPhase,
  reason: z.string().optional(),
  /** Set when phase is failed because a runtime step failed. */
  error: z
    .strictObject({ code: z.string(), message: z.string(), permanent: z.boolean(), attempts: z.int() })
    .optional(),
  address: z.string().optional(),
  /** The identity applied in the box, "hostname machine-id" (see DesiredBox spec.machineId). */
  identity: z.string().max(200).optional(),
  /** The commit checked out in /workspace from the box's repository. */
  repoCommit: z
    .string()
    .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/)
    .optional(),
  /** Milliseconds each runtime step took, e.g. { prepare: 120, start: 800 }. */
  timings: z.record(z.string(), z.number()).optional(),
  /**
   * The latest processes killed in the box for lack of memory, oldest first,
   * sent again in every report; the control plane records each once.
   */
  oomKills: z
    .array(
      z.strictObject({
        at: z.iso.datetime(),
        pid: z.int().nonnegative(),
        command: z.string().max(64),
        uid: z.int().nonnegative(),
        rssMiB: z.int().nonnegative(),
      }),
    )
    .max(20)
    .optional(),
});
export type BoxReport = z.infer<typeof BoxReport>;

export const ExecRequest = z.strictObject({
  boxId: z.string(),
  command: z.array(z.string()).min(1),
  timeoutMs: z.int().positive(),
  maxOutputBytes: z.int().positive(),
  /** A box the node is bringing up (a start or resume) is waited for this long before the command runs. */
  waitMs: z.int().min(0).max(600_000).optional(),
  /** With waitMs: the box generation that asked it to run; an older desired set on the node is waited past. */
  generation: z.int().nonnegative().optional(),
});
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecReply = z.strictObject({
  exitCode: z.int(),
  stdout: z.string(),
  stderr: z.string(),
  timedOut: z.boolean(),
  truncated: z.boolean(),
});
export type ExecReply = z.infer<typeof ExecReply>;

/** A call from the control plane waiting for a node agent in another process. */
export const NodeCommand = z.strictObject({
  id: z.string(),
  kind: z.literal("exec"),
  request: ExecRequest,
});
export type NodeCommand = z.infer<typeof NodeCommand>;

export const NodeCommandList = z.strictObject({ commands: z.array(NodeCommand) });

/** What the agent answers: the reply, or an error with a code the control plane maps to a problem. */
export const NodeCommandResult = z.union([
  z.strictObject({ reply: ExecReply }),
  z.strictObject({ error: z.strictObject({ code: z.string().max(100), message: z.string().max(2000) }) }),
]);
export type NodeCommandResult = z.infer<typeof NodeCommandResult>;
