// The control plane's side of the agent protocol, in process: what the
// all-in-one server hands its local NodeAgent as its ControlPlaneLink. An
// HTTP transport for remote agents would call the same functions.

import {
  type AgentCommands,
  BoxReport,
  type BoxSecretValues,
  type BuildJob,
  BuildUpdate,
  type ControlPlaneLink,
  type DesiredBox,
  type DesiredSet,
  type FetchDesiredOptions,
  type ExecReply,
  type ExecRequest,
  Heartbeat,
  type NodeCommand,
  type NodeCommandResult,
  PrebuildJob,
  PrebuildUpdate,
  NodeRegistration,
  type Registered,
} from "@boxyard/agent-protocol";
import { type BoxRow, type DesiredBoxRow, inTx, type Queryable } from "@boxyard/db";
import { authorizedStore } from "@boxyard/authz";
import type { Clock, IdGen } from "@boxyard/platform";
import type { SecretKeyring } from "@boxyard/secrets";
import type pg from "pg";
import type { Applied } from "./apply-plan.ts";
import { untilBox } from "./box-wait.ts";
import { StaleWriteError } from "./errors.ts";
import type { Failpoints } from "./failpoints.ts";
import { recordLeft, settleStep, takeStepInTx } from "./inline-steps.ts";
import type { LifecycleMetrics } from "./metrics.ts";
import type { Channel, PgListener } from "./pg-listener.ts";

/** Every query here runs as the agent system actor (B2). */
const asAgent = (q: Queryable) => authorizedStore(q, { kind: "system", name: "agent" });

export class UnknownNodeError extends Error {
  readonly code = "node_not_found";
  constructor(nodeId: string) {
    super(`node ${nodeId} is not registered`);
    this.name = "UnknownNodeError";
  }
}

function desiredBox(b: DesiredBoxRow): DesiredBox {
  return {
    boxId: b.id,
    generation: b.node_generation,
    phase: b.node_phase as DesiredBox["phase"],
    spec: {
      hostname: b.name,
      ...(b.machine_id !== null ? { machineId: b.machine_id } : {}),
      image: b.image as DesiredBox["spec"]["image"],
      resources: b.resources,
      // From the box's template; boxes made before templates carried one reach nothing.
      network: { egress: (b.network?.egress ?? "deny-all") as DesiredBox["spec"]["network"]["egress"] },
      // Whose secrets they are is part of the revision (a box claimed from a
      // pool gets its owner's), and so is every value set, rotated or deleted.
      ...(b.secrets?.length > 0
        ? { secrets: { names: b.secrets, revision: `${b.owner_id ?? "pool"}:${b.secrets_revision ?? ""}` } }
        : {}),
      ...(b.repo ? { repo: b.repo } : {}),
      ...(b.prebuild ? { prebuild: b.prebuild } : {}),
      ...(b.env && Object.keys(b.env).length > 0 ? { env: b.env } : {}),
      ...(b.on_start?.length > 0 ? { onStart: b.on_start } : {}),
    },
    ...(b.node_phase === "paused" && b.pause_mode === "cold" ? { coldPause: true } : {}),
  };
}

/**
 * How long a node owns a build it claimed without reporting. The agent
 * reports at least every few seconds while it builds (build-runner.ts).
 */
export const BUILD_LEASE_MS = 60_000;

export class InProcessNodeLink implements ControlPlaneLink {
  private readonly commands = new Map<string, AgentCommands>();

  constructor(
    private readonly o: {
      pool: pg.Pool;
      ids: IdGen;
      listener?: PgListener;
      pollMs?: number;
      /** Opens secret values for delivery into boxes; without it boxes get none. */
      secrets?: SecretKeyring;
      clock?: Clock;
      /** Time-in-state of the boxes a report settles. */
      metrics?: LifecycleMetrics;
      failpoints?: Failpoints;
    },
  ) {}

  /** The command endpoint of a node's agent, when that agent runs in this process. */
  agentCommands(nodeId: string): AgentCommands | undefined {
    return this.commands.get(nodeId);
  }

  async register(reg: NodeRegistration, commands?: AgentCommands): Promise<Registered> {
    const r = NodeRegistration.parse(reg);
    const node = await asAgent(this.o.pool).upsertNode({
      id: this.o.ids.newId("node"),
      name: r.name,
      runtime: r.runtime,
      capacity: r.capacity,
      labels: r.labels,
      cachedImages: r.cachedImages,
      agentVersion: r.agentVersion,
    });
    if (commands) this.commands.set(node.id, commands);
    return { nodeId: node.id };
  }

  async heartbeat(nodeId: string, hb: Heartbeat): Promise<void> {
    const h = Heartbeat.parse(hb);
    const ok = await asAgent(this.o.pool).recordNodeHeartbeat({ id: nodeId, ...h });
    if (!ok) throw new UnknownNodeError(nodeId);
  }

  async fetchDesired(nodeId: string, sinceVersion: number, opts: FetchDesiredOptions): Promise<DesiredSet> {
    const deadline = Date.now() + opts.waitMs;
    // A notification for this node ended the last wait: the set is read at once, without the version first.
    let notified = false;
    for (;;) {
      const woken = notified;
      notified = false;
      // Listen before reading, so a change between the read and the wait is not missed.
      const remaining = Math.max(0, deadline - Date.now());
      const waiting = this.o.listener?.waitFor(
        "boxyard_node_desired",
        (p) => {
          if (p !== nodeId) return false;
          notified = true;
          return true;
        },
        Math.min(remaining, this.o.pollMs ?? 1_000),
        opts.signal,
      );
      // Otherwise each look reads the version alone, and the set (every box of the node, with its
      // spec) only when it moved: an agent waits here most of the time.
      const answer = remaining === 0 || opts.signal?.aborted === true;
      let look = answer || woken;
      if (!look) {
        const version = await asAgent(this.o.pool).getNodeDesiredVersion(nodeId);
        if (version === null) throw new UnknownNodeError(nodeId);
        look = version > sinceVersion;
      }
      if (look) {
        const set = await asAgent(this.o.pool).getNodeDesiredSet(nodeId);
        if (!set) throw new UnknownNodeError(nodeId);
        if (set.version > sinceVersion || answer)
          return { nodeId, version: set.version, boxes: set.boxes.map(desiredBox) };
      }
      await (waiting ?? new Promise((r) => setTimeout(r, Math.min(remaining, this.o.pollMs ?? 1_000))));
    }
  }

  /**
   * Applies each report; when one completes the box's desired change (the
   * node reports the phase it asked for), the reconciler's settling step is
   * taken at once (inline-steps.ts), fenced on the version the report left:
   * the box is, say, running with its operations done one transaction after
   * the report. The report itself stays one statement, so the row is locked
   * no longer than before (claims of pooled boxes skip locked rows).
   */
  async report(nodeId: string, reports: BoxReport[]): Promise<{ accepted: number }> {
    let accepted = 0;
    for (const raw of reports) {
      const r = BoxReport.parse(raw);
      const box = await asAgent(this.o.pool).applyAgentReport({
        boxId: r.boxId,
        nodeId,
        generation: r.generation,
        seq: r.seq,
        phase: r.phase,
        reason: r.reason ?? null,
        error: r.error ?? null,
        address: r.address ?? null,
        identity: r.identity ?? null,
        repoCommit: r.repoCommit ?? null,
      });
      if (!box) continue;
      accepted++;
      // Each process killed for lack of memory becomes a box event, once.
      if (r.oomKills?.length)
        await inTx(this.o.pool, (tx) =>
          asAgent(tx).recordOomKills({ boxId: r.boxId, nodeId, kills: r.oomKills ?? [] }),
        );
      const settled = await this.settle(box);
      // The report leaves the row due, so the reconciler still looks (level-triggered) within its
      // poll; after a settle there is nothing for it to do now, so it is woken only when the step is its own.
      if (!settled) {
        await asAgent(this.o.pool).notifyBoxChanged(r.boxId);
        continue;
      }
      recordLeft(this.o.metrics, box.template, settled.left);
      this.o.failpoints?.hit(`link.after-settle:${settled.box.actual_state}`);
    }
    return { accepted };
  }

  /** The reconciler's settling step for the row a report left, when it is one; undefined if not, or if the row moved on. */
  private async settle(box: BoxRow): Promise<Applied | undefined> {
    const step = settleStep(box);
    if (!step) return undefined;
    this.o.failpoints?.hit("link.before-settle");
    try {
      return await inTx(this.o.pool, (tx) => takeStepInTx(tx, box, step, this.o.clock?.now() ?? new Date()));
    } catch (err) {
      // Written since the report (a desired change, a newer report): the reconciler looks again.
      if (err instanceof StaleWriteError) return undefined;
      throw err;
    }
  }

  /** The calls waiting for this node's agent, claimed; long-polls up to `waitMs` when there are none. */
  async fetchCommands(nodeId: string, opts: FetchDesiredOptions): Promise<NodeCommand[]> {
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const waiting = this.o.listener?.waitFor(
        "boxyard_node_commands",
        (p) => p === nodeId,
        Math.min(remaining, this.o.pollMs ?? 1_000),
        opts.signal,
      );
      const rows = await asAgent(this.o.pool).claimNodeCommands(nodeId);
      if (rows.length > 0 || remaining === 0 || opts.signal?.aborted)
        return rows.map((r) => ({ id: r.id, kind: r.kind, request: r.request as ExecRequest }));
      await (waiting ?? new Promise((r) => setTimeout(r, Math.min(remaining, this.o.pollMs ?? 1_000))));
    }
  }

  async replyCommand(nodeId: string, commandId: string, result: NodeCommandResult): Promise<void> {
    await asAgent(this.o.pool).completeNodeCommand({
      id: commandId,
      nodeId,
      ...("reply" in result ? { reply: result.reply } : { error: result.error }),
    });
  }

  /**
   * The values of a box's secrets for the node that runs it: the names its
   * template listed, each from the most specific scope that holds it (the
   * owner's, the box's team's, the org's). Only this path opens values.
   */
  async fetchBoxSecrets(nodeId: string, boxId: string): Promise<BoxSecretValues> {
    if (boxId.startsWith("pb_")) return this.prebuildSecrets(nodeId, boxId);
    const box = await asAgent(this.o.pool).getBoxById(boxId);
    if (!box || box.node_id !== nodeId || box.deleted_at !== null) throw new UnknownBoxError(boxId);
    const names = box.secrets ?? [];
    return this.openSecrets({ orgId: box.org_id, ownerId: box.owner_id, teamId: box.team_id }, names);
  }

  /**
   * The secrets of a prebuild's throw-away box, for the node running it: the
   * names its template lists, from the org's secrets only (a prebuild is
   * shared by everyone who makes boxes of the template, so no one person's
   * or team's secret goes into it).
   */
  private async prebuildSecrets(nodeId: string, prebuildId: string): Promise<BoxSecretValues> {
    const pb = await asAgent(this.o.pool).getPrebuildForNode(prebuildId);
    if (!pb || pb.node_id !== nodeId || pb.status !== "building") throw new UnknownBoxError(prebuildId);
    const names = (pb.job as PrebuildJob).secrets ?? [];
    return this.openSecrets({ orgId: pb.org_id, ownerId: null, teamId: null }, names);
  }

  /** Each name's value from the most specific scope that holds it, opened; the names none holds. */
  private async openSecrets(
    scope: { orgId: string; ownerId: string | null; teamId: string | null },
    names: readonly string[],
  ): Promise<BoxSecretValues> {
    if (names.length === 0) return { secrets: [], missing: [] };
    if (!this.o.secrets) return { secrets: [], missing: [...names] };
    const keyring = this.o.secrets;
    const rows = await asAgent(this.o.pool).resolveSecretsForBox(scope, names);
    const found = new Set(rows.map((r) => r.name));
    return {
      secrets: rows.map((r) => ({
        name: r.name,
        value: keyring
          .open(r.id, { ciphertext: r.ciphertext, wrappedKey: r.wrapped_key, keyId: r.key_id })
          .toString("base64"),
      })),
      missing: names.filter((n) => !found.has(n)),
    };
  }

  /** The next prebuild for this node to run, claimed with a lease; long-polls up to `waitMs`. */
  async claimPrebuild(nodeId: string, opts: FetchDesiredOptions): Promise<PrebuildJob | null> {
    return this.claimJob("boxyard_prebuilds", opts, async () => {
      const row = await asAgent(this.o.pool).claimPrebuild({ nodeId, leaseMs: BUILD_LEASE_MS });
      return row && PrebuildJob.parse({ ...(row.job as object), id: row.id, attempt: row.attempts });
    });
  }

  /**
   * Claims a job with `claim`, long-polling up to `waitMs`: woken by the
   * channel's notifications, else every pollMs.
   */
  private async claimJob<J>(
    channel: Channel,
    opts: FetchDesiredOptions,
    claim: () => Promise<J | null>,
  ): Promise<J | null> {
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const pollMs = Math.min(remaining, this.o.pollMs ?? 1_000);
      const waiting = this.o.listener?.waitFor(channel, () => true, pollMs, opts.signal);
      const job = await claim();
      if (job) return job;
      if (remaining === 0 || opts.signal?.aborted) return null;
      await (waiting ?? new Promise((r) => setTimeout(r, pollMs)));
    }
  }

  async updatePrebuild(nodeId: string, prebuildId: string, update: PrebuildUpdate): Promise<boolean> {
    const u = PrebuildUpdate.parse(update);
    return asAgent(this.o.pool).updatePrebuild({
      id: prebuildId,
      nodeId,
      leaseMs: BUILD_LEASE_MS,
      status: u.status,
      ...(u.log !== undefined ? { log: u.log } : {}),
      ...(u.commit ? { commit: u.commit } : {}),
      ...(u.layer ? { layer: u.layer } : {}),
      ...(u.error !== undefined ? { error: u.error } : {}),
    });
  }

  /** The next template build for this node to do, claimed with a lease; long-polls up to `waitMs`. */
  async claimBuild(nodeId: string, opts: FetchDesiredOptions): Promise<BuildJob | null> {
    return this.claimJob("boxyard_template_builds", opts, async () => {
      const row = await asAgent(this.o.pool).claimTemplateBuild({ nodeId, leaseMs: BUILD_LEASE_MS });
      return row && { id: row.id, image: row.image as BuildJob["image"], attempt: row.attempts };
    });
  }

  async updateBuild(nodeId: string, buildId: string, update: BuildUpdate): Promise<boolean> {
    const u = BuildUpdate.parse(update);
    return asAgent(this.o.pool).updateTemplateBuild({
      id: buildId,
      nodeId,
      leaseMs: BUILD_LEASE_MS,
      status: u.status,
      ...(u.log !== undefined ? { log: u.log } : {}),
      ...(u.layers ? { layers: u.layers } : {}),
      ...(u.cacheHit !== undefined ? { cacheHit: u.cacheHit } : {}),
      ...(u.error !== undefined ? { error: u.error } : {}),
    });
  }

  /**
   * Calls into a node's agent wherever it runs: in this process directly,
   * else queued in the database for the agent's command poll (any replica),
   * waiting for its reply.
   */
  commandsFor(nodeId: string, o: { pickupMs?: number } = {}): AgentCommands {
    const local = this.commands.get(nodeId);
    if (local) return local;
    return {
      exec: async (request: ExecRequest): Promise<ExecReply> => {
        // An agent from before waitMs refuses a request that has it: the wait is made here instead.
        const req =
          request.waitMs && !(await this.takesExecWait(nodeId)) ? await this.untilRunning(request) : request;
        const id = this.o.ids.newId("cmd");
        const pickupMs = o.pickupMs ?? 10_000;
        const totalMs = (req.waitMs ?? 0) + req.timeoutMs + pickupMs + 5_000;
        await asAgent(this.o.pool).insertNodeCommand({
          id,
          nodeId,
          kind: "exec",
          request: req,
          ttlMs: totalMs,
        });
        const started = Date.now();
        try {
          for (;;) {
            const waiting = this.o.listener?.waitFor("boxyard_node_command_done", (p) => p === id, 1_000);
            const row = await asAgent(this.o.pool).getNodeCommand(id);
            if (row?.error) throw new AgentCommandError(row.error.code, row.error.message);
            if (row?.done_at) return row.reply as ExecReply;
            const elapsed = Date.now() - started;
            if (!row?.claimed_at && elapsed > pickupMs)
              throw new AgentCommandError(
                "agent_unreachable",
                `the node's agent did not pick the command up within ${Math.round(pickupMs / 1000)} s; is it running? (boxyard nodes)`,
              );
            if (elapsed > totalMs)
              throw new AgentCommandError("agent_timeout", "the node's agent did not answer in time");
            await (waiting ?? new Promise((r) => setTimeout(r, 200)));
          }
        } finally {
          await asAgent(this.o.pool)
            .deleteNodeCommand(id)
            .catch(() => {});
        }
      },
    };
  }

  /** Whether the node's agent (its registered version) waits for a box itself (ExecRequest.waitMs). */
  private async takesExecWait(nodeId: string): Promise<boolean> {
    const node = await asAgent(this.o.pool).getNodeById(nodeId);
    const v = (node?.agent_version ?? "0").split(".").map((n) => Number.parseInt(n, 10) || 0);
    for (let i = 0; i < EXEC_WAIT_SINCE.length; i++) {
      const have = v[i] ?? 0;
      const need = EXEC_WAIT_SINCE[i] ?? 0;
      if (have !== need) return have > need;
    }
    return true;
  }

  /**
   * For an older agent: waits here, on the box's committed state, until it
   * runs (or stops being on its way, or waitMs passes), then returns the
   * request without the wait.
   */
  private async untilRunning(req: ExecRequest): Promise<ExecRequest> {
    const { waitMs = 0, generation: _, ...plain } = req;
    const gone = (why: string) =>
      new AgentCommandError("invalid_box_state", `the box is ${why} while the command waited`);
    return untilBox({
      listener: this.o.listener,
      boxId: req.boxId,
      read: () => asAgent(this.o.pool).getBoxById(req.boxId),
      decide: (box) => {
        if (box?.actual_state === "running") return plain;
        if (!box || box.deleted_at) throw gone(box ? "deleted" : "gone");
        if (box.desired_state !== "running" || box.actual_state === "failed") throw gone(box.actual_state);
        return undefined;
      },
      ms: waitMs,
      late: () =>
        new AgentCommandError(
          "invalid_box_state",
          `the box was not running within ${Math.round(waitMs / 1000)} s`,
        ),
    });
  }
}

/** A box that is not on the asking node (or not at all): the same answer for both. */
export class UnknownBoxError extends Error {
  readonly code = "box_not_found";
  constructor(boxId: string) {
    super(`box ${boxId} is not on this node`);
    this.name = "UnknownBoxError";
  }
}

/** The first agent version whose exec takes waitMs (an earlier one's strict schema refuses it). */
const EXEC_WAIT_SINCE = [0, 2, 0];

/** A call into an agent that failed; `code` is the agent's (e.g. invalid_box_state) or the link's. */
export class AgentCommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AgentCommandError";
  }
}
