// Test support: the lifecycle engine without HTTP, on a fresh database:
// reconcilers and node agents that can be "crashed" (failpoints) and
// rebuilt over the same database and the same fake node state, the way a
// process restart would find them.

import { NodeAgent, type NodeAgentOptions, StaticImageResolver } from "@boxyard/agent";
import type { ControlPlaneLink } from "@boxyard/agent-protocol";
import { type AuthorizedStore, authorizedStore } from "@boxyard/authz";
import { type BoxRow, createPool, migrate, migrations, type UserRow } from "@boxyard/db";
import {
  type BoxVerb,
  changeBoxDesiredState,
  createBox,
  Failpoints,
  InProcessNodeLink,
  PgListener,
  Reconciler,
  type ReconcilerOptions,
  resolveTemplate,
} from "@boxyard/lifecycle";
import { randomIds, systemClock } from "@boxyard/platform";
import { FakeNodeState, FakeRuntime } from "@boxyard/runtime";
import { createTestDatabase, type TestDatabase, waitFor } from "@boxyard/testkit";
import type pg from "pg";
import pino from "pino";

const logger = pino({ level: "silent" });

export const FAST_RECONCILER: Partial<ReconcilerOptions> = {
  pollMs: 20,
  leaseMs: 300,
  waitRequeueMs: 200,
  resyncMs: 500,
  backoff: { baseMs: 10, capMs: 100 },
};

export const FAST_AGENT: Partial<NodeAgentOptions> = {
  heartbeatMs: 100,
  longPollMs: 150,
  rereportMs: 300,
  rescanMs: 100,
  retry: { baseMs: 10, capMs: 100 },
};

export class LifecycleHarness {
  readonly nodeState = new FakeNodeState();
  readonly reconcilers: Reconciler[] = [];
  readonly agents: NodeAgent[] = [];
  private readonly extraPools: pg.Pool[] = [];
  orgId = "org_00000000000000000000";
  userId = "usr_00000000000000000000";

  private constructor(
    readonly db: TestDatabase,
    readonly pool: pg.Pool,
    readonly listener: PgListener,
    readonly link: InProcessNodeLink,
    readonly failpoints: Failpoints,
  ) {}

  static async start(): Promise<LifecycleHarness> {
    const db = await createTestDatabase();
    const pool = createPool({ url: db.url, max: 10 });
    await migrate(pool, migrations);
    const listener = new PgListener({ pool, logger, reconnectMs: 100 });
    await listener.start();
    // The link's settling of reports has failpoints too: a crash there kills the reporting agent.
    const failpoints = new Failpoints();
    const link = new InProcessNodeLink({ pool, ids: randomIds, listener, pollMs: 100, failpoints });
    const h = new LifecycleHarness(db, pool, listener, link, failpoints);
    await pool.query(`INSERT INTO users (id, username) VALUES ($1, 'owner')`, [h.userId]);
    await pool.query(`INSERT INTO orgs (id, name) VALUES ($1, 'acme')`, [h.orgId]);
    return h;
  }

  /** A reconciler, on its own pool when `separatePool` (as another replica would be). */
  startReconciler(o: Partial<ReconcilerOptions> & { separatePool?: boolean } = {}): Reconciler {
    let pool = this.pool;
    if (o.separatePool) {
      pool = createPool({ url: this.db.url, max: 5 });
      this.extraPools.push(pool);
    }
    const r = new Reconciler({
      pool,
      clock: systemClock,
      logger,
      listener: this.listener,
      failpoints: this.failpoints,
      ...FAST_RECONCILER,
      ...o,
    });
    r.start();
    this.reconcilers.push(r);
    return r;
  }

  startAgent(
    o: { runtime?: FakeRuntime; link?: ControlPlaneLink } & Partial<NodeAgentOptions> = {},
  ): NodeAgent {
    const a = new NodeAgent({
      runtime: o.runtime ?? new FakeRuntime({ state: this.nodeState }),
      images: new StaticImageResolver(),
      link: o.link ?? this.link,
      nodeName: "node-a",
      clock: systemClock,
      logger,
      capacity: { cpu: 64, memoryMiB: 262_144, diskGiB: 4096, gpus: 0 },
      failpoints: this.failpoints,
      ...FAST_AGENT,
      ...o,
    });
    void a.start();
    this.agents.push(a);
    return a;
  }

  get crashed(): boolean {
    return this.reconcilers.some((r) => r.isCrashed) || this.agents.some((a) => a.isCrashed);
  }

  /** Replaces every crashed component with a fresh one over the same database and node state. */
  async restartCrashed(): Promise<void> {
    const deadReconcilers = this.reconcilers.filter((r) => r.isCrashed);
    const deadAgents = this.agents.filter((a) => a.isCrashed);
    for (const r of deadReconcilers) {
      await r.stop();
      this.reconcilers.splice(this.reconcilers.indexOf(r), 1);
      this.startReconciler();
    }
    for (const a of deadAgents) {
      await a.stop();
      this.agents.splice(this.agents.indexOf(a), 1);
      this.startAgent();
    }
  }

  /**
   * The store as the harness's user, a site admin (who acts as an owner of
   * any org): the harness's boxes are created and changed through the same
   * authorized store as the API's.
   */
  store(): AuthorizedStore {
    const user = { id: this.userId, username: "owner", site_admin: true } as UserRow;
    return authorizedStore(this.pool, { kind: "user", user });
  }

  async create(name: string): Promise<BoxRow> {
    const { box } = await createBox(this.store(), randomIds, {
      orgId: this.orgId,
      ownerId: this.userId,
      name,
      template: resolveTemplate("busybox"),
      persistent: false,
    });
    return box;
  }

  async verb(boxId: string, verb: BoxVerb) {
    return changeBoxDesiredState(this.store(), randomIds, { boxId, verb });
  }

  async box(id: string): Promise<BoxRow> {
    const b = await this.store().getBoxById(id);
    if (!b) throw new Error(`no box ${id}`);
    return b;
  }

  /** Waits until the box settles in `state` for its latest generation, restarting anything a failpoint crashed. */
  async settled(id: string, state: string, timeoutMs = 10_000): Promise<BoxRow> {
    return waitFor(
      async () => {
        if (this.crashed) await this.restartCrashed();
        const b = await this.box(id);
        return b.actual_state === state && b.observed_generation === b.generation ? b : null;
      },
      { timeoutMs, intervalMs: 20, message: `box ${id} to settle in ${state}` },
    );
  }

  async pendingOperations(boxId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM operations WHERE box_id = $1 AND status = 'pending'`,
      [boxId],
    );
    return rows[0]!.n;
  }

  async close(): Promise<void> {
    for (const a of this.agents) await a.stop();
    for (const r of this.reconcilers) await r.stop();
    await this.listener.close();
    await this.pool.end();
    for (const p of this.extraPools) await p.end();
    await this.db.drop();
  }
}
