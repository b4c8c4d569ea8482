// E6 (scaled to this machine): a resync over many settled boxes, with the
// reconciler killed halfway. The full pass completes after a restart, and
// nothing is partially applied: settled boxes are read, not rewritten.

import { enqueueAllBoxes } from "@boxyard/db";
import { waitFor } from "@boxyard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LifecycleHarness } from "./lifecycle-harness.ts";

const N = 2000;
let h: LifecycleHarness;
beforeEach(async () => {
  h = await LifecycleHarness.start();
});
afterEach(async () => h?.close());

describe("resync at scale (E6)", () => {
  it(`re-checks ${N} settled boxes, survives a kill halfway, and changes none of them`, async () => {
    await h.pool.query(
      `INSERT INTO nodes (id, name, runtime, capacity, last_heartbeat_at)
       VALUES ('node_00000000000000000001', 'n1', 'fake', '{"cpu":4000,"memoryMiB":1048576,"diskGiB":8192,"gpus":0}', now())`,
    );
    await h.pool.query(
      `INSERT INTO boxes (id, org_id, name, owner_id, template, template_version, image, resources, desired_state,
                          actual_state, generation, observed_generation, node_id, node_phase, node_generation,
                          agent_phase, agent_generation, agent_seq)
       SELECT 'box_' || lpad(g::text, 20, '0'), $1, 'b' || g, $2, 'busybox', 1, '{"base":"busybox"}',
              '{"cpu":1,"memoryMiB":256,"diskGiB":1,"gpus":0}', 'running', 'running', 1, 1,
              'node_00000000000000000001', 'running', 1, 'running', 1, 1
         FROM generate_series(1, $3::int) g`,
      [h.orgId, h.userId, N],
    );
    expect(await enqueueAllBoxes(h.pool)).toBe(N);

    let processed = 0;
    const trace = {
      begin() {
        processed++;
        // Kill the first reconciler about halfway through the pass.
        if (processed === N / 2) h.failpoints.arm("reconciler.before-release");
      },
      end() {},
    };
    const started = Date.now();
    h.startReconciler({ concurrency: 16, resyncMs: 60_000, trace });
    await waitFor(
      async () => {
        if (h.crashed) {
          // The "restarted process": a new reconciler; the dead one's leases expire on their own.
          for (const dead of h.reconcilers.splice(0)) await dead.stop();
          h.startReconciler({ concurrency: 16, resyncMs: 60_000, trace });
        }
        const { rows } = await h.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM boxes WHERE next_attempt_at IS NOT NULL OR lease_holder IS NOT NULL`,
        );
        return rows[0]!.n === 0;
      },
      { timeoutMs: 50_000, intervalMs: 100, message: "the resync to finish" },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(h.failpoints.hasFired("reconciler.before-release")).toBe(true);
    expect(processed).toBeGreaterThanOrEqual(N);
    const { rows } = await h.pool.query<{ states: string[]; versions: number; events: number }>(
      `SELECT array_agg(DISTINCT actual_state) AS states, sum(version)::int AS versions,
              (SELECT count(*)::int FROM box_events) AS events
         FROM boxes`,
    );
    expect(rows[0]).toEqual({ states: ["running"], versions: N, events: 0 });
    expect(seconds).toBeLessThan(40);
  });
});
