// The narrow channel a node agent talks to the control plane through. The
// all-in-one server passes an in-process implementation; a remote agent
// would use one that speaks HTTP to /api/v1/agent/... with a node token.

import type { BuildJob, BuildUpdate } from "./builds.ts";
import type { PrebuildJob, PrebuildUpdate } from "./prebuilds.ts";
import type { BoxSecretValues } from "./secrets.ts";
import type {
  BoxReport,
  DesiredSet,
  ExecReply,
  ExecRequest,
  Heartbeat,
  NodeCommand,
  NodeCommandResult,
  NodeRegistration,
  Registered,
} from "./schemas.ts";

/** Calls the control plane makes into an agent (exec today; sessions later). */
export interface AgentCommands {
  exec(req: ExecRequest): Promise<ExecReply>;
  /**
   * Gives a running box a new hostname and machine-id now (a box just claimed
   * from a warm pool), ahead of the desired set that carries the same
   * identity; in-process agents only.
   */
  setIdentity?(boxId: string, identity: { hostname: string; machineId: string }): Promise<void>;
}

export interface FetchDesiredOptions {
  /** Long poll: wait up to this long for a version newer than `sinceVersion`. */
  waitMs: number;
  signal?: AbortSignal;
}

export interface ControlPlaneLink {
  /** Idempotent by node name: a restarted agent gets its old node id back. */
  register(reg: NodeRegistration, commands?: AgentCommands): Promise<Registered>;
  heartbeat(nodeId: string, hb: Heartbeat): Promise<void>;
  /** The full desired set; returns early once its version passes `sinceVersion`. */
  fetchDesired(nodeId: string, sinceVersion: number, opts: FetchDesiredOptions): Promise<DesiredSet>;
  /** Stale reports (older generation or seq than one already applied) are dropped, not errors. */
  report(nodeId: string, reports: BoxReport[]): Promise<{ accepted: number }>;
  /**
   * For agents in another process (which cannot hand the control plane an
   * AgentCommands object): long-polls the calls waiting for this node, and
   * answers one.
   */
  fetchCommands?(nodeId: string, opts: FetchDesiredOptions): Promise<NodeCommand[]>;
  replyCommand?(nodeId: string, commandId: string, result: NodeCommandResult): Promise<void>;
  /** Template image builds (builds.ts): claim the next one, long-polling up to `waitMs` when none waits. */
  claimBuild?(nodeId: string, opts: FetchDesiredOptions): Promise<BuildJob | null>;
  /** Progress of a claimed build; false when it is not this node's any more. */
  updateBuild?(nodeId: string, buildId: string, update: BuildUpdate): Promise<boolean>;
  /** Prebuilds (prebuilds.ts): claim the next one, long-polling up to `waitMs` when none waits. */
  claimPrebuild?(nodeId: string, opts: FetchDesiredOptions): Promise<PrebuildJob | null>;
  /** Progress of a claimed prebuild; false when it is not this node's any more. */
  updatePrebuild?(nodeId: string, prebuildId: string, update: PrebuildUpdate): Promise<boolean>;
  /**
   * The values of the secrets the desired set names for a box of this node
   * (the box's owner's over its team's over its org's), to write into the
   * running box. Refused for a box that is not this node's.
   */
  fetchBoxSecrets?(nodeId: string, boxId: string): Promise<BoxSecretValues>;
}
