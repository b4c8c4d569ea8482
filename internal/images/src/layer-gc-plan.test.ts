import { describe, expect, it } from "vitest";
import { type LayerFacts, type LayerGcInput, planLayerGc } from "./layer-gc-plan.ts";

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const NOW = Date.UTC(2026, 10, 1);
const d = (c: string) => `sha256:${c.repeat(64)}`;
const layer = (c: string, bytes: number, idleMs: number): LayerFacts => ({
  digest: d(c),
  bytes,
  lastUsedMs: NOW - idleMs,
});

function plan(over: Partial<LayerGcInput> & Pick<LayerGcInput, "layers">) {
  return planLayerGc({
    inUse: new Set(),
    pinned: new Set(),
    wanted: new Set(),
    now: NOW,
    policy: { budgetBytes: null, ttlMs: null, graceMs: 15 * MIN },
    ...over,
  });
}
const removed = (p: ReturnType<typeof plan>) => p.remove.map((r) => [r.digest[7], r.reason]);

describe("planLayerGc", () => {
  const layers = [layer("a", 100, 3 * DAY), layer("b", 100, 1 * DAY), layer("c", 100, 2 * DAY)];

  it("removes nothing under the budget and within the TTL", () => {
    const p = plan({ layers, policy: { budgetBytes: 300, ttlMs: 7 * DAY, graceMs: 0 } });
    expect(p.remove).toEqual([]);
    expect(p.totalBytes).toBe(300);
  });

  it("over the budget removes unused layers least recently used first, only as many as needed", () => {
    const p = plan({ layers, policy: { budgetBytes: 150, ttlMs: null, graceMs: 0 } });
    expect(removed(p)).toEqual([
      ["a", "budget"],
      ["c", "budget"],
    ]);
    expect(p.remove[0]!.bytes).toBe(100);
    expect(p.remove[0]!.idleMs).toBe(3 * DAY);
  });

  it("removes layers unused for longer than the TTL whatever the budget", () => {
    const p = plan({ layers, policy: { budgetBytes: 10_000, ttlMs: 36 * 3600_000, graceMs: 0 } });
    expect(removed(p)).toEqual([
      ["a", "ttl"],
      ["c", "ttl"],
    ]);
  });

  it("counts TTL removals towards the budget", () => {
    const p = plan({ layers, policy: { budgetBytes: 100, ttlMs: 2.5 * DAY, graceMs: 0 } });
    expect(removed(p)).toEqual([
      ["a", "ttl"],
      ["c", "budget"],
    ]);
  });

  it("keeps layers boxes mount and pinned layers, even far over the budget and past the TTL", () => {
    const p = plan({
      layers,
      inUse: new Set([d("a")]),
      pinned: new Set([d("c")]),
      policy: { budgetBytes: 0, ttlMs: 1, graceMs: 0 },
    });
    expect(removed(p)).toEqual([["b", "ttl"]]);
  });

  it("keeps layers used within the grace period", () => {
    const p = plan({
      layers: [layer("a", 100, 5 * MIN), layer("b", 100, 20 * MIN)],
      policy: { budgetBytes: 0, ttlMs: 1, graceMs: 15 * MIN },
    });
    expect(removed(p)).toEqual([["b", "ttl"]]);
  });

  it("never removes a wanted layer for age, and removes wanted layers last under the budget", () => {
    const wanted = new Set([d("a")]);
    expect(removed(plan({ layers, wanted, policy: { budgetBytes: null, ttlMs: 1, graceMs: 0 } }))).toEqual([
      ["c", "ttl"],
      ["b", "ttl"],
    ]);
    expect(removed(plan({ layers, wanted, policy: { budgetBytes: 150, ttlMs: null, graceMs: 0 } }))).toEqual([
      ["c", "budget"],
      ["b", "budget"],
    ]);
    expect(removed(plan({ layers, wanted, policy: { budgetBytes: 50, ttlMs: null, graceMs: 0 } }))).toEqual([
      ["c", "budget"],
      ["b", "budget"],
      ["a", "budget"],
    ]);
  });

  it("on a full disk (A10) frees the bytes asked for, LRU first, within the budget", () => {
    const p = plan({ layers, needBytes: 150, policy: { budgetBytes: 10_000, ttlMs: null, graceMs: 0 } });
    expect(removed(p)).toEqual([
      ["a", "disk_full"],
      ["c", "disk_full"],
    ]);
    expect(
      removed(plan({ layers, needBytes: 0, policy: { budgetBytes: null, ttlMs: null, graceMs: 0 } })),
    ).toEqual([]);
  });

  it("breaks ties in last use by digest, so a pass is deterministic", () => {
    const same = [layer("f", 10, DAY), layer("e", 10, DAY)];
    expect(removed(plan({ layers: same, policy: { budgetBytes: 10, ttlMs: null, graceMs: 0 } }))).toEqual([
      ["e", "budget"],
    ]);
  });
});
