import { describe, expect, it } from "vitest";
import { makeRoom, type NodeSnapshot, type PooledHold, place, roomWantedByUsers } from "./scheduler.ts";

function node(name: string, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    id: `node_${name}`,
    name,
    runtime: "fake",
    healthy: true,
    capacity: { cpu: 8, memoryMiB: 16_384, diskGiB: 100, gpus: 0 },
    allocated: { cpu: 0, memoryMiB: 0, diskGiB: 0, gpus: 0 },
    cachedImages: [],
    ...o,
  };
}
const small = { cpu: 1, memoryMiB: 1024, diskGiB: 5, gpus: 0 };

describe("place()", () => {
  it("picks the node with the most free memory", () => {
    const r = place({ resources: small }, [
      node("a", { allocated: { cpu: 1, memoryMiB: 8_000, diskGiB: 5, gpus: 0 } }),
      node("b"),
    ]);
    expect("node" in r && r.node.name).toBe("b");
  });

  it("prefers a node that already holds the image", () => {
    const r = place({ resources: small, imageKey: "img_x" }, [
      node("a"),
      node("b", { cachedImages: ["img_x"], allocated: { cpu: 4, memoryMiB: 10_000, diskGiB: 0, gpus: 0 } }),
    ]);
    expect("node" in r && r.node.name).toBe("b");
  });

  it("prefers the node that holds the box's prebuild over one that only holds its image", () => {
    const layer = `sha256:${"a".repeat(64)}`;
    const r = place({ resources: small, imageKey: "img_x", prebuildLayer: layer }, [
      node("a", { cachedImages: ["img_x"] }),
      node("b", {
        cachedImages: ["img_x", layer],
        allocated: { cpu: 4, memoryMiB: 10_000, diskGiB: 0, gpus: 0 },
      }),
      node("c"),
    ]);
    expect("node" in r && r.node.name).toBe("b");
  });

  it("explains why no node fits: capacity, health, runtime", () => {
    const r = place({ resources: { ...small, gpus: 1 }, runtime: "gvisor" }, [
      node("full", { runtime: "gvisor" }),
      node("sick", { runtime: "gvisor", healthy: false }),
      node("other"),
    ]);
    expect(r).toEqual({
      reasons: [
        "full: not enough gpus (free 0, need 1)",
        "sick: not healthy",
        "other: runtime fake, box needs gvisor",
      ],
    });
  });

  it("counts allocated resources (no capacity when the node is full)", () => {
    const r = place({ resources: small }, [
      node("a", { allocated: { cpu: 7.5, memoryMiB: 0, diskGiB: 0, gpus: 0 } }),
    ]);
    expect("reasons" in r && r.reasons[0]).toMatch(/not enough cpu/);
  });

  it("reports that there are no nodes at all", () => {
    expect(place({ resources: small }, [])).toEqual({ reasons: ["no nodes are registered"] });
  });
});

describe("makeRoom() and roomWantedByUsers(): pool priority", () => {
  const pooled = (id: string, nodeId: string, o: Partial<PooledHold> = {}): PooledHold => ({
    id,
    version: 1,
    nodeId,
    resources: small,
    ready: true,
    draining: false,
    createdAt: new Date(Number(id.replace(/\D/g, "")) * 1000),
    ...o,
  });
  const full = { cpu: 8, memoryMiB: 8192, diskGiB: 40, gpus: 0 };

  it("evicts the fewest pooled boxes, those still starting first, then the newest", () => {
    const a = node("a", { allocated: full });
    const r = makeRoom(
      { resources: { ...small, cpu: 2 } },
      [a],
      [pooled("p1", a.id), pooled("p2", a.id), pooled("p3", a.id, { ready: false }), pooled("p4", a.id)],
    );
    expect(r?.node.name).toBe("a");
    expect(r?.evict.map((p) => p.id)).toEqual(["p3", "p4"]);
  });

  it("counts boxes already draining as freed and evicts none when they suffice", () => {
    const a = node("a", { allocated: full });
    const r = makeRoom(
      { resources: small },
      [a],
      [pooled("p1", a.id, { draining: true }), pooled("p2", a.id)],
    );
    expect(r?.evict).toEqual([]);
  });

  it("picks the node placement would pick with the pools emptied, and nothing when even that is not enough", () => {
    const a = node("a", { allocated: full });
    const b = node("b", { allocated: full });
    const holds = [pooled("p1", a.id), pooled("p2", b.id), pooled("p3", b.id)];
    const r = makeRoom({ resources: small }, [a, b], holds);
    expect(r?.node.name).toBe("b");
    expect(r?.evict.map((p) => p.id)).toEqual(["p3"]);
    expect(makeRoom({ resources: { ...small, cpu: 4 } }, [a, b], holds)).toBeNull();
    expect(makeRoom({ resources: small }, [a], [])).toBeNull();
  });

  it("a fill waits only for users' boxes that fit in the node's free room", () => {
    const n = node("a", { allocated: { cpu: 6, memoryMiB: 0, diskGiB: 0, gpus: 0 } });
    expect(roomWantedByUsers(n, [{ ...small, cpu: 2 }])).toBe(true);
    expect(roomWantedByUsers(n, [{ ...small, cpu: 3 }])).toBe(false);
    expect(roomWantedByUsers(n, [])).toBe(false);
  });
});
