import { describe, expect, it } from "vitest";
import { type NodeSnapshot, place } from "./scheduler.ts";

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
