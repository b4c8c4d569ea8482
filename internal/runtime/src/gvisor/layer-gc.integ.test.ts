// Garbage collection of the node's layer cache against real gVisor boxes:
// a layer a box mounts survives a pass (the box still starts and execs,
// also after a stop), a prepare racing a pass keeps the layer it checked,
// and once the boxes are destroyed their layers go.

import { utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayerGc, type LayerGcOptions } from "@boxyard/images";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { layersOfBoxes } from "./box-layers.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

const DAY = 24 * 3600_000;
let node: TestNode;
let rt: GvisorRuntime;
let extra = "";
let racing = "";
let unused = "";
const box = `lgc${process.pid}`;
const box2 = `lgr${process.pid}`;

async function fileLayer(name: string): Promise<string> {
  return node.store.publish(async (dir) => writeFile(join(dir, name), `${name}\n`, { mode: 0o644 }));
}

/** Every layer unused for 30 days, as far as the cache's last-use files say. */
async function ageAll(): Promise<void> {
  const t = new Date(Date.now() - 30 * DAY);
  for (const d of await node.store.list()) await utimes(node.store.usedPath(d), t, t);
}

function gc(over: Partial<LayerGcOptions> = {}): LayerGc {
  return new LayerGc({
    store: node.store,
    settings: { budget: null, ttlMs: DAY, graceMs: 0 },
    inUse: () => layersOfBoxes(node.stateDir),
    logger: { info: () => {}, warn: () => {} },
    ...over,
  });
}

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  extra = await fileLayer("extra");
  racing = await fileLayer("racing");
  unused = await fileLayer("unused");
}, 120_000);

afterAll(async () => {
  for (const id of [box, box2]) await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

describe("layer cache garbage collection with gVisor boxes", () => {
  it("keeps the layers a box mounts: the box still execs, and starts again after a stop", async () => {
    await rt.prepare(node.spec(box, { layers: [node.busybox, extra] }));
    await rt.start(box);
    await ageAll();
    const r = await gc().runOnce();
    expect(r.removed.map((x) => x.digest).sort()).toEqual([racing, unused].sort());
    expect(await node.store.has(extra)).toBe(true);
    expect(await node.store.has(node.busybox)).toBe(true);
    const out = await rt.exec(box, { command: ["cat", "/extra"] });
    expect(out.stdout.toString()).toBe("extra\n");

    // A stopped box still holds its layers: it mounts them again when started.
    await rt.stop(box);
    await ageAll();
    expect((await gc().runOnce()).removed).toEqual([]);
    await rt.start(box);
    const again = await rt.exec(box, { command: ["cat", "/extra"] });
    expect(again.stdout.toString()).toBe("extra\n");
  }, 180_000);

  it("a prepare racing a pass keeps the layer it checked (pinned), and its box starts", async () => {
    racing = await fileLayer("racing");
    await ageAll();
    let prepared = false;
    const r = await gc({
      // The pass has begun; it reads the box records, and meanwhile a prepare
      // checks the layer, mounts it and writes its record.
      inUse: async () => {
        const before = await layersOfBoxes(node.stateDir);
        await rt.prepare(node.spec(box2, { layers: [node.busybox, racing] }));
        prepared = true;
        return before;
      },
    }).runOnce();
    expect(prepared).toBe(true);
    expect(r.removed.map((x) => x.digest)).not.toContain(racing);
    expect(await node.store.has(racing)).toBe(true);
    await rt.start(box2);
    const out = await rt.exec(box2, { command: ["cat", "/racing"] });
    expect(out.stdout.toString()).toBe("racing\n");
  }, 180_000);

  it("once its boxes are destroyed a layer goes, with its index entries", async () => {
    await node.store.recordSpec({ test: "extra" }, extra);
    await rt.destroy(box);
    await ageAll();
    const r = await gc().runOnce();
    // busybox and racing are still box2's.
    expect(r.removed.map((x) => x.digest)).toEqual([extra]);
    expect(r.indexEntries).toBe(1);
    expect(await node.store.lookupSpec({ test: "extra" })).toBeNull();
    await rt.destroy(box2);
    await ageAll();
    const r2 = await gc().runOnce();
    expect(r2.removed.map((x) => x.digest).sort()).toEqual([node.busybox, racing].sort());
    expect(await node.store.list()).toEqual([]);
  }, 180_000);
});
