import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LayerGc, type LayerGcOptions, type LayerGcSettings } from "./layer-gc.ts";
import { LayerStore } from "./layer-store.ts";

const DAY = 24 * 3600_000;
let root: string;
let store: LayerStore;
let logs: { msg: string; obj: Record<string, unknown> }[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "boxyard-layergc-"));
  store = new LayerStore({ root });
  logs = [];
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A layer of `kib` KiB (one file), last used `idleMs` ago. */
async function layer(name: string, kib: number, idleMs: number): Promise<string> {
  const digest = await store.publish(async (dir) => {
    await writeFile(join(dir, name), Buffer.alloc(kib * 1024, name));
  });
  await setIdle(digest, idleMs);
  return digest;
}

async function setIdle(digest: string, idleMs: number): Promise<void> {
  const t = new Date(Date.now() - idleMs);
  await utimes(store.usedPath(digest), t, t);
}

function gc(settings: Partial<LayerGcSettings>, over: Partial<LayerGcOptions> = {}): LayerGc {
  return new LayerGc({
    store,
    settings: { budget: null, ttlMs: null, graceMs: 60_000, ...settings },
    inUse: async () => [],
    logger: {
      info: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
      warn: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
    },
    disk: async () => ({ totalBytes: 1000 * 1024, freeBytes: 900 * 1024 }),
    ...over,
  });
}

describe("LayerGc", () => {
  it("measures each layer once and keeps the size beside its last use", async () => {
    const a = await layer("a", 64, 2 * DAY);
    const [u] = await store.usage();
    expect(u!.digest).toBe(a);
    expect(u!.bytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(Math.abs(u!.lastUsedMs - (Date.now() - 2 * DAY))).toBeLessThan(5_000);
    expect(JSON.parse(await readFile(store.usedPath(a), "utf8"))).toEqual({ bytes: u!.bytes });
    // Measuring did not count as a use.
    expect((await store.usage())[0]!.lastUsedMs).toBe(u!.lastUsedMs);
  });

  it("over the budget removes the least recently used layers, logs each and reports the cache", async () => {
    const old = await layer("old", 64, 3 * DAY);
    const mid = await layer("mid", 64, 2 * DAY);
    const fresh = await layer("fresh", 64, 1 * DAY);
    const one = (await store.usage()).find((u) => u.digest === old)!.bytes;
    const r = await gc({ budget: { bytes: one * 1.5 } }).runOnce();
    expect(r.removed.map((x) => [x.digest, x.reason])).toEqual([
      [old, "budget"],
      [mid, "budget"],
    ]);
    expect(await store.list()).toEqual([fresh]);
    expect(r).toMatchObject({ layers: 1, bytes: one });
    const removals = logs.filter((l) => l.msg === "image layer removed from the node's cache");
    expect(removals.map((l) => l.obj.digest)).toEqual([old, mid]);
    expect(removals[0]!.obj).toMatchObject({ bytes: one, reason: "budget", idleSeconds: 3 * 24 * 3600 });
    // Nothing is left half-removed, and the use files went with the layers.
    expect(await readdir(join(root, "trash"))).toEqual([]);
    expect(await readdir(join(root, "used"))).toEqual([fresh.replace(":", "-")]);
  });

  it("a budget as a share of the disk uses the filesystem's size", async () => {
    const a = await layer("a", 64, 3 * DAY);
    await layer("b", 64, 2 * DAY);
    // 10% of a 1000 KiB disk holds one 64 KiB layer, not two.
    const r = await gc({ budget: { fraction: 0.1 } }).runOnce();
    expect(r.removed.map((x) => x.digest)).toEqual([a]);
  });

  it("removes layers unused longer than the TTL and drops their spec index entries", async () => {
    const stale = await layer("stale", 4, 8 * DAY);
    const recent = await layer("recent", 4, 1 * DAY);
    await store.recordSpec({ image: "stale" }, stale);
    await store.recordSpec({ image: "recent" }, recent);
    await setIdle(stale, 8 * DAY); // recordSpec is not a use, but be explicit
    const r = await gc({ ttlMs: 7 * DAY }).runOnce();
    expect(r.removed.map((x) => [x.digest, x.reason])).toEqual([[stale, "ttl"]]);
    expect(r.indexEntries).toBe(1);
    expect((await readdir(join(root, "index"))).length).toBe(1);
    expect(await store.lookupSpec({ image: "stale" })).toBeNull();
    expect(await store.lookupSpec({ image: "recent" })).toBe(recent);
  });

  it("keeps layers boxes mount, pinned layers and wanted layers whatever their age", async () => {
    const mounted = await layer("mounted", 4, 30 * DAY);
    const pinned = await layer("pinned", 4, 30 * DAY);
    const wanted = await layer("wanted", 4, 30 * DAY);
    const unused = await layer("unused", 4, 30 * DAY);
    const lease = await store.pin([pinned]);
    await setIdle(pinned, 30 * DAY);
    const r = await gc(
      { ttlMs: DAY },
      { inUse: async () => [mounted], wanted: async () => [wanted] },
    ).runOnce();
    expect(r.removed.map((x) => x.digest)).toEqual([unused]);
    expect((await store.list()).sort()).toEqual([mounted, pinned, wanted].sort());
    lease.release();
    // Released and unused for long: the next pass takes it (a box's use marks it used again, see below).
    await setIdle(pinned, 30 * DAY);
    const r2 = await gc({ ttlMs: DAY }, { inUse: async () => [mounted] }).runOnce();
    expect(r2.removed.map((x) => x.digest).sort()).toEqual([pinned, wanted].sort());
  });

  it("a pin marks the layer used: its idle time starts again", async () => {
    const a = await layer("a", 4, 30 * DAY);
    (await store.pin([a])).release();
    expect((await gc({ ttlMs: DAY }).runOnce()).removed).toEqual([]);
  });

  it("a prepare that pins between the pass's look at the boxes and the removal keeps the layer", async () => {
    const a = await layer("a", 4, 30 * DAY);
    const b = await layer("b", 4, 30 * DAY);
    let lease: Awaited<ReturnType<LayerStore["pin"]>> | undefined;
    let sawA = false;
    const pass = gc(
      { ttlMs: DAY },
      {
        // The box records show nothing yet; meanwhile a prepare pins `a`, checks it and mounts it.
        inUse: async () => {
          lease = await store.pin([a]);
          sawA = await store.has(a);
          return [];
        },
      },
    ).runOnce();
    const r = await pass;
    expect(sawA).toBe(true);
    expect(r.removed.map((x) => x.digest)).toEqual([b]);
    expect(await store.has(a)).toBe(true);
    lease!.release();
  });

  it("a pin released during the pass (its box record written meanwhile) still keeps the layer", async () => {
    const a = await layer("a", 4, 30 * DAY);
    const early = await store.pin([a]);
    await setIdle(a, 30 * DAY);
    const r = await gc(
      { ttlMs: DAY },
      {
        inUse: async () => {
          // The record the pass reads was written before this release; the sweep notes the release.
          early.release();
          return [];
        },
      },
    ).runOnce();
    expect(r.removed).toEqual([]);
    expect(await store.has(a)).toBe(true);
  });

  it("a pin that comes while a layer is being removed waits, then sees it absent", async () => {
    const a = await layer("a", 256, 30 * DAY);
    const sweep = store.beginSweep();
    try {
      const removal = sweep.remove(a);
      const pinned = store.pin([a]).then(async (lease) => ({ lease, present: await store.has(a) }));
      expect(await removal).toBe(true);
      const { lease, present } = await pinned;
      expect(present).toBe(false);
      lease.release();
    } finally {
      sweep.end();
    }
  });

  it("a sweep refuses a layer published or used since it began", async () => {
    const a = await layer("a", 4, 30 * DAY);
    const sweep = store.beginSweep();
    try {
      await store.lookupSpec({ none: true });
      await store.touch([a]);
      expect(await sweep.remove(a)).toBe(false);
      expect(await store.has(a)).toBe(true);
    } finally {
      sweep.end();
    }
    expect(() => store.beginSweep().end()).not.toThrow();
  });

  it("a removal interrupted by a crash leaves only trash: the layer reads as absent and the next pass empties it", async () => {
    const a = await layer("a", 4, 30 * DAY);
    // What a crash right after the rename into trash/ leaves behind.
    await mkdir(join(root, "trash"), { recursive: true });
    await rename(store.pathOf(a), join(root, "trash", `${a.replace(":", "-")}-dead`));
    expect(await store.has(a)).toBe(false);
    expect(await store.list()).toEqual([]);
    const r = await gc({}).runOnce();
    expect(r.layers).toBe(0);
    expect(await readdir(join(root, "trash"))).toEqual([]);
    // Its use file was an orphan and is gone too.
    await expect(stat(store.usedPath(a))).rejects.toThrow();
  });

  it("a full disk reported by a prepare runs a pass soon that frees space (A10)", async () => {
    const a = await layer("a", 64, 2 * DAY);
    const b = await layer("b", 64, 1 * DAY);
    const passes: string[][] = [];
    const g = gc(
      { intervalMs: 3600_000 },
      {
        // 1000 KiB disk, 20 KiB free: a 10% free target needs 80 KiB, more than one layer.
        disk: async () => ({ totalBytes: 1000 * 1024, freeBytes: 20 * 1024 }),
        onPass: (r) => passes.push(r.removed.map((x) => `${x.digest}:${x.reason}`)),
      },
    );
    g.start();
    try {
      store.reportNoSpace();
      const deadline = Date.now() + 10_000;
      while (passes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(passes[0]).toEqual([`${a}:disk_full`, `${b}:disk_full`]);
    } finally {
      await g.stop();
    }
  });
});
