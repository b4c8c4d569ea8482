// The control plane's side of the agent protocol, in process: what the
// all-in-one server hands its local NodeAgent as its ControlPlaneLink. An
// HTTP transport for remote agents would call the same functions.

import {
  type AgentCommands,
  BoxReport,
  type ControlPlaneLink,
  type DesiredBox,
  type DesiredSet,
  type FetchDesiredOptions,
  Heartbeat,
  NodeRegistration,
  type Registered,
} from "@boxyard/agent-protocol";
import {
  applyAgentReport,
  type DesiredBoxRow,
  getNodeDesiredSet,
  notifyBoxChanged,
  recordNodeHeartbeat,
  upsertNode,
} from "@boxyard/db";
import type { IdGen } from "@boxyard/platform";
import type pg from "pg";
import type { PgListener } from "./pg-listener.ts";

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
      image: b.image as DesiredBox["spec"]["image"],
      resources: b.resources,
      // Templates will set egress policy; until then boxes reach nothing.
      network: { egress: "deny-all" },
    },
  };
}

export class InProcessNodeLink implements ControlPlaneLink {
  private readonly commands = new Map<string, AgentCommands>();

  constructor(private readonly o: { pool: pg.Pool; ids: IdGen; listener?: PgListener; pollMs?: number }) {}

  /** The command endpoint of a node's agent, when that agent runs in this process. */
  agentCommands(nodeId: string): AgentCommands | undefined {
    return this.commands.get(nodeId);
  }

  async register(reg: NodeRegistration, commands?: AgentCommands): Promise<Registered> {
    const r = NodeRegistration.parse(reg);
    const node = await upsertNode(this.o.pool, {
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
    const ok = await recordNodeHeartbeat(this.o.pool, { id: nodeId, ...h });
    if (!ok) throw new UnknownNodeError(nodeId);
  }

  async fetchDesired(nodeId: string, sinceVersion: number, opts: FetchDesiredOptions): Promise<DesiredSet> {
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      // Listen before reading, so a change between the read and the wait is not missed.
      const remaining = Math.max(0, deadline - Date.now());
      const waiting = this.o.listener?.waitFor(
        "boxyard_node_desired",
        (p) => p === nodeId,
        Math.min(remaining, this.o.pollMs ?? 1_000),
        opts.signal,
      );
      const set = await getNodeDesiredSet(this.o.pool, nodeId);
      if (!set) throw new UnknownNodeError(nodeId);
      if (set.version > sinceVersion || remaining === 0 || opts.signal?.aborted) {
        return { nodeId, version: set.version, boxes: set.boxes.map(desiredBox) };
      }
      await (waiting ?? new Promise((r) => setTimeout(r, Math.min(remaining, this.o.pollMs ?? 1_000))));
    }
  }

  async report(nodeId: string, reports: BoxReport[]): Promise<{ accepted: number }> {
    let accepted = 0;
    for (const raw of reports) {
      const r = BoxReport.parse(raw);
      const ok = await applyAgentReport(this.o.pool, {
        boxId: r.boxId,
        nodeId,
        generation: r.generation,
        seq: r.seq,
        phase: r.phase,
        reason: r.reason ?? null,
        error: r.error ?? null,
        address: r.address ?? null,
      });
      if (ok) {
        accepted++;
        await notifyBoxChanged(this.o.pool, r.boxId);
      }
    }
    return { accepted };
  }
}
