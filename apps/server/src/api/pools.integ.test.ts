// Warm pools (issue 9) with the fake runtime and real PostgreSQL: the
// controller fills a pool with ready ownerless boxes that nobody sees; a
// create claims one in its admission transaction (already running, operation
// done at once, its own name and machine-id), refills follow, a quota caps
// claims and the pool, a new template version drains the old boxes, and a
// node agent that dies before renaming a claimed box converges on restart.
// Test catalogue: E1 (concurrent creates vs quota: exact counts, no duplicates).

import { randomIds } from "@boxyard/platform";
import { createBox, newMachineId, PoolController, resolveTemplate } from "@boxyard/lifecycle";
import { waitFor } from "@boxyard/testkit";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";
import { LifecycleHarness } from "./lifecycle-harness.ts";

let api: BoxTestApi;
let owner: string;
let other: string;

const orgPath = (org: string) => `/api/v1/orgs/${org}`;

async function poolOf(org: string, template: string, token = owner) {
  const r = await api.call("GET", `${orgPath(org)}/templates/${template}/pool`, { token });
  expect(r.status).toBe(200);
  return r.body as { size: number; target: number; ready: number; starting: number; draining: number };
}

async function poolReady(org: string, template: string, ready: number) {
  return waitFor(
    async () => {
      const p = await poolOf(org, template);
      return p.ready === ready && p.starting === 0 && p.draining === 0 ? p : null;
    },
    { timeoutMs: 15_000, intervalMs: 50, message: `pool ${org}/${template} to have ${ready} ready` },
  );
}

async function exec(org: string, box: string, command: string[]) {
  const r = await api.call("POST", `${orgPath(org)}/boxes/${box}/exec`, { token: owner, body: { command } });
  expect(r.status).toBe(200);
  return String(r.body.stdout).trim();
}

beforeAll(async () => {
  api = await startBoxTestApi({ lifecycle: { poolPollMs: 100 } });
  owner = await api.createUser("wendy");
  other = await api.createUser("mallory");
  for (const org of ["warm", "tight", "versions"])
    expect((await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: org } })).status).toBe(201);
  expect((await api.call("POST", "/api/v1/orgs", { token: other, body: { name: "elsewhere" } })).status).toBe(
    201,
  );
});
afterAll(async () => api?.close());

describe("warm pools", () => {
  it("fills a pool with ready ownerless boxes that no listing, usage or quota shows", async () => {
    const bad = await api.call("PUT", `${orgPath("warm")}/templates/busybox/pool`, {
      token: owner,
      body: { size: 51 },
    });
    expect(bad.status).toBe(400);
    const missing = await api.call("PUT", `${orgPath("warm")}/templates/nosuch/pool`, {
      token: owner,
      body: { size: 2 },
    });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("template_not_found");
    const foreign = await api.call("PUT", `${orgPath("warm")}/templates/busybox/pool`, {
      token: other,
      body: { size: 2 },
    });
    expect(foreign.status).toBe(404);

    const set = await api.call("PUT", `${orgPath("warm")}/templates/busybox/pool`, {
      token: owner,
      body: { size: 3 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ template: "busybox", size: 3 });
    const p = await poolReady("warm", "busybox", 3);
    expect(p.target).toBe(3);
    expect(api.runtime.state.boxes.size).toBe(3);

    expect((await api.call("GET", `${orgPath("warm")}/boxes`, { token: owner })).body.items).toEqual([]);
    const quota = await api.call("GET", `${orgPath("warm")}/quota`, { token: owner });
    expect(quota.body.usage).toMatchObject({ boxes: 0, runningBoxes: 0, cpu: 0 });
    const usage = await api.call("GET", `${orgPath("warm")}/usage`, { token: owner });
    expect(usage.status).toBe(200);
    expect(JSON.stringify(usage.body)).not.toContain("pool-");
    const templates = await api.call("GET", `${orgPath("warm")}/templates`, { token: owner });
    const busybox = templates.body.items.find((t: { name: string }) => t.name === "busybox");
    expect(busybox.pool).toMatchObject({ size: 3, target: 3, ready: 3 });
    expect(templates.body.items.find((t: { name: string }) => t.name === "debian").pool).toBeNull();
  });

  it("a create claims a running box: operation done at once, its own hostname and machine-id; the pool refills", async () => {
    const created = await api.call("POST", `${orgPath("warm")}/boxes`, {
      token: owner,
      body: { name: "alpha", template: "busybox" },
    });
    expect(created.status).toBe(202);
    expect(created.body.box).toMatchObject({ name: "alpha", actualState: "running", owner: "wendy" });
    expect(created.body.operation.status).toBe("succeeded");
    const second = await api.call("POST", `${orgPath("warm")}/boxes`, {
      token: owner,
      body: { name: "beta", template: "busybox" },
    });
    expect(second.body.box.actualState).toBe("running");

    // The first command already sees the box's own identity.
    expect(await exec("warm", "alpha", ["hostname"])).toBe("alpha");
    expect(await exec("warm", "beta", ["hostname"])).toBe("beta");
    const idA = await exec("warm", "alpha", ["cat", "/etc/machine-id"]);
    const idB = await exec("warm", "beta", ["cat", "/etc/machine-id"]);
    expect(idA).toMatch(/^[0-9a-f]{32}$/);
    expect(idB).toMatch(/^[0-9a-f]{32}$/);
    expect(idA).not.toBe(idB);

    // A fresh box (no pool for debian) shows the same kind of identity.
    const fresh = await api.call("POST", `${orgPath("warm")}/boxes`, {
      token: owner,
      body: { name: "gamma", template: "debian" },
    });
    expect(fresh.body.box.actualState).not.toBe("running");
    expect(fresh.body.operation.status).toBe("pending");
    await waitFor(
      async () =>
        (await api.call("GET", `${orgPath("warm")}/boxes/gamma`, { token: owner })).body.actualState ===
        "running",
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(await exec("warm", "gamma", ["hostname"])).toBe("gamma");
    const idC = await exec("warm", "gamma", ["cat", "/etc/machine-id"]);
    expect(idC).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set([idA, idB, idC]).size).toBe(3);

    // The claimed box's history starts at the claim; none of the pooled life shows.
    const { rows: events } = await api.server.pool.query<{
      from_state: string | null;
      to_state: string;
      reason: string;
    }>(
      `SELECT e.from_state, e.to_state, e.reason FROM box_events e JOIN boxes b ON b.id = e.box_id
        WHERE b.name = 'alpha' AND b.deleted_at IS NULL ORDER BY e.id`,
    );
    expect(events).toEqual([
      { from_state: null, to_state: "running", reason: expect.stringContaining("claimed from pool") },
    ]);

    const listed = (await api.call("GET", `${orgPath("warm")}/boxes`, { token: owner })).body.items;
    expect(listed.map((b: { name: string }) => b.name).sort()).toEqual(["alpha", "beta", "gamma"]);
    await poolReady("warm", "busybox", 3);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/boxyard_pool_claims_total\{template="busybox",result="hit"\} 2/);
    expect(metrics).toMatch(/boxyard_pool_boxes\{org="warm",template="busybox",state="ready"\} 3/);
    expect(metrics).toMatch(/boxyard_pool_target\{org="warm",template="busybox"\} 3/);
  });

  it("a claimed box keeps its name across stop and start, and its owner acts on it like any box", async () => {
    expect((await api.call("POST", `${orgPath("warm")}/boxes/alpha/stop`, { token: owner })).status).toBe(
      202,
    );
    await waitFor(
      async () =>
        (await api.call("GET", `${orgPath("warm")}/boxes/alpha`, { token: owner })).body.actualState ===
        "stopped",
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect((await api.call("POST", `${orgPath("warm")}/boxes/alpha/start`, { token: owner })).status).toBe(
      202,
    );
    await waitFor(
      async () =>
        (await api.call("GET", `${orgPath("warm")}/boxes/alpha`, { token: owner })).body.actualState ===
        "running",
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(await exec("warm", "alpha", ["hostname"])).toBe("alpha");
    const dup = await api.call("POST", `${orgPath("warm")}/boxes`, {
      token: owner,
      body: { name: "alpha", template: "busybox" },
    });
    expect(dup.status).toBe(409);
    await poolReady("warm", "busybox", 3);
  });

  it("20 concurrent creates against a pool of 3 and a quota of 5: 3 claimed, 2 fresh, 15 refused, none twice", async () => {
    expect(
      (await api.call("PUT", `${orgPath("tight")}/quota`, { body: { maxBoxes: 5, maxRunningBoxes: 5 } }))
        .status,
    ).toBe(200);
    await api.call("PUT", `${orgPath("tight")}/templates/busybox/pool`, { token: owner, body: { size: 3 } });
    const pooled = await waitFor(
      async () => {
        const p = await poolOf("tight", "busybox");
        if (p.ready !== 3) return null;
        const { rows } = await api.server.pool.query<{ id: string }>(
          `SELECT b.id FROM boxes b JOIN box_pools p ON p.id = b.pool_id JOIN orgs o ON o.id = p.org_id
            WHERE o.name = 'tight' AND b.deleted_at IS NULL`,
        );
        return rows.map((r) => r.id);
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.call("POST", `${orgPath("tight")}/boxes`, {
          token: owner,
          body: { name: `c${i}`, template: "busybox" },
        }),
      ),
    );
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    expect(accepted).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) expect(r.body).toMatchObject({ code: "quota_exceeded", limit: 5 });
    const ids = accepted.map((r) => r.body.box.id as string);
    expect(new Set(ids).size).toBe(5);
    const claimed = ids.filter((id) => pooled.includes(id));
    expect(claimed).toHaveLength(3);
    expect(accepted.filter((r) => r.body.operation.status === "succeeded")).toHaveLength(3);

    const { rows } = await api.server.pool.query<{ n: number; owners: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT b.name)::int AS owners FROM boxes b JOIN orgs o ON o.id = b.org_id
        WHERE o.name = 'tight' AND b.deleted_at IS NULL AND b.pool_id IS NULL`,
    );
    expect(rows[0]).toEqual({ n: 5, owners: 5 });
    // The quota is used up: the pool keeps nothing the org could not claim.
    const p = await waitFor(
      async () => {
        const x = await poolOf("tight", "busybox");
        return x.target === 0 && x.ready + x.starting + x.draining === 0 ? x : null;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(p.size).toBe(3);
    const quota = await api.call("GET", `${orgPath("tight")}/quota`, { token: owner });
    expect(quota.body.usage).toMatchObject({ boxes: 5, runningBoxes: 5 });
  });

  it("a new template version drains the pool's old boxes and refills with the new one", async () => {
    const v1 = await api.call("POST", `${orgPath("versions")}/templates`, {
      token: owner,
      body: { name: "tiny", spec: { image: { base: "busybox" }, resources: { memoryMiB: 256 } } },
    });
    expect(v1.status).toBe(201);
    await api.call("PUT", `${orgPath("versions")}/templates/tiny/pool`, { token: owner, body: { size: 2 } });
    await poolReady("versions", "tiny", 2);
    const versionsOfPool = async () => {
      const { rows } = await api.server.pool.query<{ v: number; desired: string }>(
        `SELECT b.template_version AS v, b.desired_state AS desired FROM boxes b JOIN box_pools p ON p.id = b.pool_id
          JOIN orgs o ON o.id = p.org_id WHERE o.name = 'versions' AND b.deleted_at IS NULL ORDER BY 1`,
      );
      return rows;
    };
    expect(await versionsOfPool()).toEqual([
      { v: 1, desired: "running" },
      { v: 1, desired: "running" },
    ]);
    const v2 = await api.call("POST", `${orgPath("versions")}/templates`, {
      token: owner,
      body: { name: "tiny", spec: { image: { base: "busybox" }, resources: { memoryMiB: 384 } } },
    });
    expect(v2.body.version).toBe(2);
    await waitFor(
      async () => {
        const rows = await versionsOfPool();
        const p = await poolOf("versions", "tiny");
        return rows.length === 2 && rows.every((r) => r.v === 2) && p.ready === 2 ? true : null;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: "the pool to hold two ready v2 boxes only" },
    );
    const created = await api.call("POST", `${orgPath("versions")}/boxes`, {
      token: owner,
      body: { name: "delta", template: "tiny" },
    });
    expect(created.body.box).toMatchObject({ templateVersion: 2, actualState: "running" });
    // An explicit older version is never served from the pool.
    const old = await api.call("POST", `${orgPath("versions")}/boxes`, {
      token: owner,
      body: { name: "epsilon", template: "tiny", templateVersion: 1 },
    });
    expect(old.status).toBe(202);
    expect(old.body.operation.status).toBe("pending");
    // Size 0 empties the pool.
    await api.call("PUT", `${orgPath("versions")}/templates/tiny/pool`, { token: owner, body: { size: 0 } });
    await waitFor(async () => ((await versionsOfPool()).length === 0 ? true : null), {
      timeoutMs: 15_000,
      intervalMs: 50,
      message: "the pool to empty",
    });
  });
});

describe("warm pools: crashes", () => {
  let h: LifecycleHarness;
  beforeAll(async () => {
    h = await LifecycleHarness.start();
  });
  afterAll(async () => h?.close());

  it("a node agent that dies between the claim and the rename converges: the box gets its name and machine-id", async () => {
    h.startReconciler();
    h.startAgent();
    const controller = await startPool(h, "pool_1", 1);
    try {
      const pooledId = await waitFor(
        async () => {
          const { rows } = await h.pool.query<{ id: string }>(
            // Ready as a claim takes it (running, settled at its generation, its fill's identity reported, and
            // no report holding its row: a claim skips locked rows and would make a fresh box instead).
            `SELECT id FROM boxes WHERE pool_id = 'pool_1' AND desired_state = 'running' AND actual_state = 'running'
               AND observed_generation >= generation AND agent_identity IS NOT NULL AND deleted_at IS NULL
             FOR UPDATE SKIP LOCKED`,
          );
          return rows[0]?.id ?? null;
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      h.failpoints.arm("agent.before-identity");
      const { box, claimed } = await createBox(h.store(), randomIds, {
        orgId: h.orgId,
        ownerId: h.userId,
        name: "renamed",
        template: resolveTemplate("busybox"),
        persistent: false,
        fromPool: true,
      });
      expect(claimed).toBe(true);
      expect(box.id).toBe(pooledId);
      expect(box.machine_id).toMatch(/^[0-9a-f]{32}$/);
      await waitFor(() => (h.failpoints.hasFired("agent.before-identity") ? true : null), {
        timeoutMs: 5_000,
        intervalMs: 20,
      });
      expect(h.crashed).toBe(true);
      const fake = h.nodeState.boxes.get(box.id)!;
      expect(fake.spec.hostname).not.toBe("renamed");
      // A new agent over the same node picks the published identity up from its desired set.
      await h.restartCrashed();
      const done = await waitFor(
        async () => {
          const b = await h.box(box.id);
          return b.agent_identity === `renamed ${box.machine_id}` ? b : null;
        },
        { timeoutMs: 10_000, intervalMs: 20, message: "the identity to be applied after the restart" },
      );
      expect(done.actual_state).toBe("running");
      expect(fake.files.get("/etc/hostname")).toBe("renamed\n");
      expect(fake.files.get("/etc/machine-id")).toBe(`${box.machine_id}\n`);
      // The pool refilled with a new box meanwhile.
      await waitFor(
        async () => {
          const { rows } = await h.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM boxes WHERE pool_id = 'pool_1' AND actual_state = 'running' AND deleted_at IS NULL`,
          );
          return rows[0]!.n === 1 ? true : null;
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
    } finally {
      await controller.stop();
    }
  });

  it("a claim whose admission fails leaves the pooled box in the pool", async () => {
    await h.pool.query(`INSERT INTO org_quotas (org_id, max_boxes) VALUES ($1, 0)`, [h.orgId]);
    const before = await h.pool.query(
      `SELECT id, version FROM boxes WHERE pool_id = 'pool_1' AND deleted_at IS NULL`,
    );
    await expect(
      createBox(
        h.store(),
        randomIds,
        {
          orgId: h.orgId,
          ownerId: h.userId,
          name: "refused",
          template: resolveTemplate("busybox"),
          persistent: false,
          fromPool: true,
        },
        async () => {
          throw new Error("admission refused");
        },
      ),
    ).rejects.toThrow("admission refused");
    const after = await h.pool.query(
      `SELECT id, version FROM boxes WHERE pool_id = 'pool_1' AND deleted_at IS NULL`,
    );
    expect(after.rows).toEqual(before.rows);
    expect(newMachineId()).not.toBe(newMachineId());
  });
});

/** A busybox pool of `size` in the harness's org, with a fast controller converging it. */
async function startPool(
  h: LifecycleHarness,
  id: string,
  size: number,
  o: { notifyDelayMs?: number } = {},
): Promise<PoolController> {
  const controller = new PoolController({
    pool: h.pool,
    ids: randomIds,
    logger: pino({ level: "silent" }),
    listener: h.listener,
    resolveTemplate: async (_org, name) => resolveTemplate(name),
    pollMs: 50,
    ...o,
  });
  await h.pool.query(`INSERT INTO box_pools (id, org_id, template, size) VALUES ($1, $2, 'busybox', $3)`, [
    id,
    h.orgId,
    size,
  ]);
  controller.start();
  return controller;
}

// A create that meets a pooled box while another transaction holds its row
// (a node's report, the reconciler) waits briefly for it instead of making a
// fresh, slower box; a holder that keeps it longer costs only the wait.
describe("warm pools: a claim and a locked pooled box", () => {
  let h: LifecycleHarness;
  let controller: PoolController;
  beforeAll(async () => {
    h = await LifecycleHarness.start();
    h.startReconciler();
    h.startAgent();
    controller = await startPool(h, "pool_2", 1);
  });
  afterAll(async () => {
    await controller?.stop();
    await h?.close();
  });

  /** The pooled box once it is claimable, with its row locked by another transaction until `release`. */
  async function lockedPooledBox() {
    const holder = await h.pool.connect();
    await holder.query("BEGIN");
    const id = await waitFor(
      async () => {
        const { rows } = await holder.query<{ id: string }>(
          `SELECT id FROM boxes WHERE pool_id = 'pool_2' AND desired_state = 'running' AND actual_state = 'running'
             AND observed_generation >= generation AND agent_identity IS NOT NULL AND deleted_at IS NULL
           FOR UPDATE SKIP LOCKED`,
        );
        return rows[0]?.id ?? null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "a claimable pooled box" },
    );
    return {
      id,
      release: async () => {
        await holder.query("COMMIT");
        holder.release();
      },
    };
  }

  const create = (name: string) =>
    createBox(h.store(), randomIds, {
      orgId: h.orgId,
      ownerId: h.userId,
      name,
      template: resolveTemplate("busybox"),
      persistent: false,
      fromPool: true,
    });

  it("waits for the holder to let go and claims that box", async () => {
    const held = await lockedPooledBox();
    let settled = false;
    const pending = create("waited").finally(() => {
      settled = true;
    });
    try {
      await new Promise((r) => setTimeout(r, 120));
      expect(settled).toBe(false);
    } finally {
      await held.release();
    }
    const { box, claimed } = await pending;
    expect(claimed).toBe(true);
    expect(box.id).toBe(held.id);
    expect(box.name).toBe("waited");
  });

  it("a holder that keeps the row past the wait: a fresh box, the transaction intact, the pooled box still pooled", async () => {
    const held = await lockedPooledBox();
    try {
      const started = Date.now();
      const { box, claimed } = await create("fresh");
      expect(claimed).toBe(false);
      expect(box.id).not.toBe(held.id);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // The fresh box and its operation committed with the create.
      const { rows } = await h.pool.query(`SELECT o.kind FROM operations o WHERE o.box_id = $1`, [box.id]);
      expect(rows).toEqual([{ kind: "create" }]);
    } finally {
      await held.release();
    }
    const { rows } = await h.pool.query(`SELECT pool_id, owner_id FROM boxes WHERE id = $1`, [held.id]);
    expect(rows[0]).toEqual({ pool_id: "pool_2", owner_id: null });
  });

  it("a create that no pooled box matches holds no org lock before its admission; one that claims does", async () => {
    // What the create's own transaction holds when its admission (inSameTx) starts.
    const advisoryLocks = async (tx: { query: (q: string) => Promise<{ rows: { n: number }[] }> }) =>
      (
        await tx.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`,
        )
      ).rows[0]?.n;
    /** A create from the pool, and the advisory locks its transaction holds when its admission starts. */
    const createSeeingLocks = async (name: string, template: ReturnType<typeof resolveTemplate>) => {
      let held: number | undefined;
      const { claimed } = await createBox(
        h.store(),
        randomIds,
        { orgId: h.orgId, ownerId: h.userId, name, template, persistent: false, fromPool: true },
        async (tx) => {
          held = await advisoryLocks(tx);
        },
      );
      return { claimed, held };
    };
    // Other resources than the pool's boxes: nothing to claim, so a burst of such creates queues only at admission.
    const other = resolveTemplate("busybox");
    other.resources = { ...other.resources, cpu: other.resources.cpu + 0.5 };
    expect(await createSeeingLocks("no-match", other)).toEqual({ claimed: false, held: 0 });

    await lockedPooledBox().then((b) => b.release()); // waits until the pool's box is claimable again
    expect(await createSeeingLocks("match", resolveTemplate("busybox"))).toEqual({ claimed: true, held: 1 });
  });
});

// Pool priority: warm-pool boxes hold room on a node only until a user's box
// needs it. A create that fits nowhere evicts the fewest pooled boxes it
// needs, and the pool's refills wait while users' boxes wait for room.
describe("warm pools: users' boxes come first", () => {
  let h: LifecycleHarness;
  let controller: PoolController;
  const pooledOnNode = async () =>
    (
      await h.pool.query<{ id: string; actual_state: string; desired_state: string }>(
        `SELECT id, actual_state, desired_state FROM boxes
          WHERE pool_id = 'pool_3' AND node_id IS NOT NULL AND deleted_at IS NULL ORDER BY created_at, id`,
      )
    ).rows;
  beforeAll(async () => {
    h = await LifecycleHarness.start();
    h.startReconciler();
    // Room for three busybox boxes (1 CPU each), or one Debian box (2 CPUs) and one busybox.
    h.startAgent({ capacity: { cpu: 3, memoryMiB: 4096, diskGiB: 100, gpus: 0 } });
    controller = await startPool(h, "pool_3", 3, { notifyDelayMs: 0 });
  });
  afterAll(async () => {
    await controller?.stop();
    await h?.close();
  });

  it("a user's box that fits nowhere evicts pooled boxes and runs; the refills wait and take the room it frees", async () => {
    await waitFor(
      async () => {
        const rows = await pooledOnNode();
        return rows.length === 3 && rows.every((r) => r.actual_state === "running") ? rows : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "the pool to fill the node" },
    );
    const { box } = await createBox(h.store(), randomIds, {
      orgId: h.orgId,
      ownerId: h.userId,
      name: "dev",
      template: resolveTemplate("debian"),
      persistent: false,
      fromPool: false,
    });
    const running = await waitFor(
      async () => {
        const b = await h.box(box.id);
        return b.actual_state === "running" ? b : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "the user's box to run" },
    );
    expect(running.node_id).not.toBeNull();
    // Two pooled boxes made room; one is left, and the refills wait off the node.
    await waitFor(
      async () => {
        const rows = await pooledOnNode();
        return rows.length === 1 && rows[0]!.actual_state === "running" ? rows : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "one pooled box left on the node" },
    );
    const { rows: waiting } = await h.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM boxes WHERE pool_id = 'pool_3' AND node_id IS NULL AND deleted_at IS NULL`,
    );
    expect(waiting[0]!.n).toBe(2);
    expect((await h.box(box.id)).actual_state).toBe("running");

    // The user's box goes: its room goes back to the pool, at once rather than at the next backoff.
    const del = await h.pool.query(
      `UPDATE boxes SET desired_state = 'deleted', generation = generation + 1, version = version + 1,
              next_attempt_at = now() WHERE id = $1 RETURNING id`,
      [box.id],
    );
    expect(del.rowCount).toBe(1);
    await h.pool.query(`SELECT pg_notify('boxyard_box_changed', $1)`, [box.id]);
    await waitFor(
      async () => {
        const rows = await pooledOnNode();
        return rows.length === 3 && rows.every((r) => r.actual_state === "running") ? rows : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "the pool to refill the node" },
    );
  });

  it("a user's box too big even for an empty pool evicts nothing", async () => {
    const before = await pooledOnNode();
    expect(before).toHaveLength(3);
    const big = resolveTemplate("debian");
    const { box } = await createBox(h.store(), randomIds, {
      orgId: h.orgId,
      ownerId: h.userId,
      name: "huge",
      template: { ...big, resources: { ...big.resources, cpu: 8 } },
      persistent: false,
      fromPool: false,
    });
    const waitingBox = await waitFor(
      async () => {
        const b = await h.box(box.id);
        return b.actual_state === "scheduling" && b.last_error?.code === "no_capacity" ? b : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "the big box to wait for capacity" },
    );
    expect(waitingBox.last_error?.message).toContain("not enough cpu");
    expect(await pooledOnNode()).toEqual(before);
  });
});
