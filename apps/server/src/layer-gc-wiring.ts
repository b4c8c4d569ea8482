import { LayerGc, type LayerGcResult } from "@boxyard/images";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ServerConfig } from "./config.ts";
import type { LocalNode } from "./node-runtime.ts";

/**
 * Starts the garbage collection of the node's layer cache (docs/layer-cache.md)
 * with its metrics: layers and bytes in the cache after the last pass, and
 * layers removed and bytes freed by reason. Returns the running collector
 * (stop it on shutdown), or undefined when the node has no layer cache or
 * collection is off.
 */
export function startLayerGc(opts: {
  node: LocalNode;
  config: ServerConfig;
  registry: Registry;
  logger: Logger;
  /** Layers the control plane still wants here (the agent's desired boxes). */
  wanted: () => string[];
}): LayerGc | undefined {
  const { node, config, registry } = opts;
  if (!node.layers || config.layerGcIntervalSeconds === 0) return undefined;
  const logger = opts.logger.child({ component: "layer-gc" });
  const layers = new Gauge({
    name: "boxyard_layer_cache_layers",
    help: "Image and prebuild layers in the node's layer cache (after the last garbage-collection pass)",
    registers: [registry],
  });
  const bytes = new Gauge({
    name: "boxyard_layer_cache_bytes",
    help: "Disk space the node's layer cache takes (after the last garbage-collection pass)",
    registers: [registry],
  });
  const removed = new Counter({
    name: "boxyard_layer_cache_removed_total",
    help: "Layers garbage collection removed from the node's cache, by reason (ttl, budget, disk_full)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const freed = new Counter({
    name: "boxyard_layer_cache_freed_bytes_total",
    help: "Bytes garbage collection freed in the node's layer cache, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const passes = new Counter({
    name: "boxyard_layer_cache_gc_runs_total",
    help: "Garbage-collection passes of the node's layer cache, by result",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const gc = new LayerGc({
    store: node.layers.store,
    settings: {
      budget: config.layerCacheBudget,
      ttlMs: config.layerCacheTtlSeconds > 0 ? config.layerCacheTtlSeconds * 1000 : null,
      intervalMs: config.layerGcIntervalSeconds * 1000,
    },
    inUse: node.layers.inUse,
    wanted: async () => opts.wanted(),
    logger,
    onPass: (r: LayerGcResult) => {
      passes.labels("ok").inc();
      layers.set(r.layers);
      bytes.set(r.bytes);
      for (const x of r.removed) {
        removed.labels(x.reason).inc();
        freed.labels(x.reason).inc(x.bytes);
      }
      if (r.removed.length > 0 || r.indexEntries > 0)
        logger.info(
          {
            removed: r.removed.length,
            freedBytes: r.removed.reduce((s, x) => s + x.bytes, 0),
            indexEntries: r.indexEntries,
            layers: r.layers,
            bytes: r.bytes,
          },
          "layer cache garbage collection done",
        );
    },
    onError: () => passes.labels("error").inc(),
  });
  gc.start();
  return gc;
}
