// The agent's long poll for its desired set (InProcessNodeLink.fetchDesired)
// against real PostgreSQL: while nothing changes, each safety-net look reads
// the node's version alone, never the whole set; a change is answered with the
// set at once; the deadline answers with the current set.

import { InProcessNodeLink } from "@boxyard/lifecycle";
import { randomIds } from "@boxyard/platform";
import type pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

let h: LifecycleHarness;
beforeEach(async () => {
  h = await LifecycleHarness.start();
});
afterEach(async () => h?.close());

/** The harness's pool, counting the statements that read the whole desired set and the version alone. */
function countingPool(pool: pg.Pool) {
  const counts = { sets: 0, versions: 0 };
  const proxy = new Proxy(pool, {
    get(target, prop) {
      if (prop === "query")
        return (text: unknown, ...rest: unknown[]) => {
          const sql = typeof text === "string" ? text : String((text as { text?: string })?.text ?? "");
          if (/FROM boxes b\s+WHERE b\.node_id = \$1/.test(sql)) counts.sets++;
          else if (/SELECT desired_version FROM nodes/.test(sql)) counts.versions++;
          return (target.query as (...a: unknown[]) => unknown)(text, ...rest);
        };
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { pool: proxy, counts };
}

/** A link on the counting pool, and a node registered through it. */
async function linkWithNode(name: string, o: { pollMs: number; listener?: LifecycleHarness["listener"] }) {
  const { pool, counts } = countingPool(h.pool);
  const link = new InProcessNodeLink({ pool, ids: randomIds, ...o });
  const { nodeId } = await link.register({
    name,
    runtime: "fake",
    capacity: { cpu: 8, memoryMiB: 8192, diskGiB: 100, gpus: 0 },
    agentVersion: "test",
  });
  return { link, counts, nodeId };
}

describe("fetchDesired", () => {
  it("polls the version alone while nothing changes, and sends the set on a change or at the deadline", async () => {
    // No listener: the poll (every 50 ms here) is all that finds a change.
    const { link, counts, nodeId } = await linkWithNode("poller", { pollMs: 50 });
    const first = await link.fetchDesired(nodeId, -1, { waitMs: 5_000 });
    expect(first.boxes).toEqual([]);
    expect(counts.sets).toBe(1);

    // Nothing changes for 600 ms: about a dozen looks, one set read (the answer at the deadline).
    counts.sets = 0;
    counts.versions = 0;
    const idle = await link.fetchDesired(nodeId, first.version, { waitMs: 600 });
    expect(idle.version).toBe(first.version);
    expect(counts.versions).toBeGreaterThanOrEqual(5);
    expect(counts.sets).toBe(1);

    // A change during the wait is answered with the new set well before the deadline.
    counts.sets = 0;
    const t0 = Date.now();
    const changed = link.fetchDesired(nodeId, first.version, { waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    await h.pool.query(`UPDATE nodes SET desired_version = nextval('node_desired_seq') WHERE id = $1`, [
      nodeId,
    ]);
    const got = await changed;
    expect(got.version).toBeGreaterThan(first.version);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(counts.sets).toBe(1);

    await expect(link.fetchDesired("node_nosuchnode000000000", 0, { waitMs: 200 })).rejects.toThrow();
  });

  it("reads the set at once when a notification wakes the wait: no version read in between", async () => {
    // The poll is slower than the test: only the notification can answer in time.
    const { link, counts, nodeId } = await linkWithNode("listener", { listener: h.listener, pollMs: 10_000 });
    const first = await link.fetchDesired(nodeId, -1, { waitMs: 5_000 });
    counts.sets = 0;
    counts.versions = 0;
    const t0 = Date.now();
    const changed = link.fetchDesired(nodeId, first.version, { waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    await h.pool.query(
      `WITH n AS (UPDATE nodes SET desired_version = nextval('node_desired_seq') WHERE id = $1)
       SELECT pg_notify('boxyard_node_desired', $1)`,
      [nodeId],
    );
    const got = await changed;
    expect(got.version).toBeGreaterThan(first.version);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // The first look's version read, then the set (which reads the version with it): no look after the wake.
    expect(counts).toEqual({ versions: 2, sets: 1 });
  });
});
