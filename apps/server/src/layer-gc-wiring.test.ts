// The layer cache's garbage-collection settings (env) and metrics, with a
// real layer store: what an operator configures and scrapes.

import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StaticImageResolver } from "@boxyard/agent";
import { LayerStore } from "@boxyard/images";
import { FakeRuntime } from "@boxyard/runtime";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveServerConfig, StartupError } from "./config.ts";
import { startLayerGc } from "./layer-gc-wiring.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "boxyard-layergc-wiring-"));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

const config = (env: Record<string, string>) => resolveServerConfig({}, { BOXYARD_DATA_DIR: work, ...env });

describe("layer cache settings", () => {
  it("default to a quarter of the disk, a week's TTL and a pass every 10 minutes", () => {
    const c = config({});
    expect(c.layerCacheBudget).toEqual({ fraction: 0.25 });
    expect(c.layerCacheTtlSeconds).toBe(7 * 24 * 3600);
    expect(c.layerGcIntervalSeconds).toBe(600);
  });

  it("take a share, a size or off, and seconds", () => {
    expect(config({ BOXYARD_LAYER_CACHE_BUDGET: "10%" }).layerCacheBudget).toEqual({ fraction: 0.1 });
    expect(config({ BOXYARD_LAYER_CACHE_BUDGET: "40GiB" }).layerCacheBudget).toEqual({
      bytes: 40 * 1024 ** 3,
    });
    expect(config({ BOXYARD_LAYER_CACHE_BUDGET: "1.5T" }).layerCacheBudget).toEqual({
      bytes: 1.5 * 1024 ** 4,
    });
    expect(config({ BOXYARD_LAYER_CACHE_BUDGET: "123456" }).layerCacheBudget).toEqual({ bytes: 123456 });
    expect(config({ BOXYARD_LAYER_CACHE_BUDGET: "off" }).layerCacheBudget).toBeNull();
    expect(config({ BOXYARD_LAYER_CACHE_TTL: "0" }).layerCacheTtlSeconds).toBe(0);
    expect(config({ BOXYARD_LAYER_GC_INTERVAL: "60" }).layerGcIntervalSeconds).toBe(60);
  });

  it("refuse nonsense with the setting named", () => {
    expect(() => config({ BOXYARD_LAYER_CACHE_BUDGET: "lots" })).toThrow(StartupError);
    expect(() => config({ BOXYARD_LAYER_CACHE_BUDGET: "lots" })).toThrow(/layerCacheBudget/);
    expect(() => config({ BOXYARD_LAYER_CACHE_BUDGET: "150%" })).toThrow(/at most 100%/);
    expect(() => config({ BOXYARD_LAYER_CACHE_TTL: "-1" })).toThrow(/layerCacheTtlSeconds/);
  });
});

describe("startLayerGc", () => {
  it("is off without a layer store or with a zero interval", () => {
    const node = { runtime: new FakeRuntime(), images: new StaticImageResolver(), close: async () => {} };
    const base = { registry: new Registry(), logger: pino({ level: "silent" }), wanted: () => [] };
    expect(startLayerGc({ ...base, node, config: config({}) })).toBeUndefined();
    const store = new LayerStore({ root: join(work, "off") });
    const withLayers = { ...node, layers: { store, inUse: async () => new Set<string>() } };
    expect(
      startLayerGc({ ...base, node: withLayers, config: config({ BOXYARD_LAYER_GC_INTERVAL: "0" }) }),
    ).toBeUndefined();
  });

  it("exports the cache's size and what it removed, and logs each removal", async () => {
    const store = new LayerStore({ root: join(work, "store") });
    const old = await store.publish((dir) => writeFile(join(dir, "old"), Buffer.alloc(8192, 1)));
    const kept = await store.publish((dir) => writeFile(join(dir, "kept"), Buffer.alloc(8192, 2)));
    const t = new Date(Date.now() - 30 * 24 * 3600_000);
    await utimes(store.usedPath(old), t, t);
    await utimes(store.usedPath(kept), t, t);
    const registry = new Registry();
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const gc = startLayerGc({
      node: {
        runtime: new FakeRuntime(),
        images: new StaticImageResolver(),
        close: async () => {},
        layers: { store, inUse: async () => new Set<string>() },
      },
      config: config({ BOXYARD_LAYER_CACHE_BUDGET: "off", BOXYARD_LAYER_CACHE_TTL: "86400" }),
      registry,
      logger,
      wanted: () => [kept],
    });
    try {
      const r = await gc!.runOnce();
      expect(r.removed.map((x) => x.digest)).toEqual([old]);
      const text = await registry.metrics();
      expect(text).toMatch(/^boxyard_layer_cache_layers 1$/m);
      expect(text).toMatch(new RegExp(`^boxyard_layer_cache_bytes ${r.bytes}$`, "m"));
      expect(r.bytes).toBeGreaterThanOrEqual(8192);
      expect(text).toMatch(/^boxyard_layer_cache_removed_total\{reason="ttl"\} 1$/m);
      expect(text).toMatch(
        new RegExp(`^boxyard_layer_cache_freed_bytes_total\\{reason="ttl"\\} ${r.removed[0]!.bytes}$`, "m"),
      );
      expect(text).toMatch(/^boxyard_layer_cache_gc_runs_total\{result="ok"\} 1$/m);
      expect(lines).toContainEqual(
        expect.objectContaining({
          component: "layer-gc",
          msg: "image layer removed from the node's cache",
          digest: old,
          reason: "ttl",
        }),
      );
    } finally {
      await gc!.stop();
    }
  });
});
