// The node's image resolver with real builders (issue 7): a busybox build
// logs and reports a cache hit the second time; a box asking while a
// template build runs shares that build; an OCI archive in the control
// plane's store unpacks into the layer store, and one that bypassed the
// upload checks (put there by hand) is still refused on the node, for good,
// with the entry named and nothing published.

import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageUnavailableError } from "@boxyard/agent";
import { buildImageArchive, LayerStore, writeTar } from "@boxyard/images";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ociArchivePath } from "./api/images.ts";
import { LayerStoreImageResolver, localArchiveSource } from "./node-runtime.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "boxyard-resolver-"));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

const silent = pino({ level: "silent" });

async function storeArchive(dataDir: string, archive: Buffer, digest: string): Promise<void> {
  const path = ociArchivePath(dataDir, digest);
  await mkdir(join(dataDir, "images", "oci"), { recursive: true });
  await writeFile(path, archive);
}

describe("LayerStoreImageResolver", () => {
  it("builds busybox with a log, then reports a cache hit; a concurrent resolve shares the build", async () => {
    const store = new LayerStore({ root: join(work, "bb") });
    const images = new LayerStoreImageResolver(store, silent);
    const log: string[] = [];
    const [first, boxLayers] = await Promise.all([
      images.build({ base: "busybox" }, { onLog: (l) => log.push(l) }),
      images.resolve({ base: "busybox" }),
    ]);
    expect(first.cacheHit).toBe(false);
    expect(boxLayers).toEqual(first.layers);
    expect(log.join("\n")).toContain("busybox base");
    expect(await store.list()).toEqual(first.layers);
    const again = await images.build({ base: "busybox" }, { onLog: () => {} });
    expect(again).toEqual({ layers: first.layers, cacheHit: true });
    // A new process (a restarted agent) finds the layer in the store: still a cache hit.
    const fresh = await new LayerStoreImageResolver(store, silent).build(
      { base: "busybox" },
      { onLog: () => {} },
    );
    expect(fresh).toEqual({ layers: first.layers, cacheHit: true });
  });

  it("builds an image again when the layer cache's garbage collection removed its layer", async () => {
    const store = new LayerStore({ root: join(work, "bb-gc") });
    const images = new LayerStoreImageResolver(store, silent);
    const [layer] = await images.resolve({ base: "busybox" });
    expect(images.layersOf({ base: "busybox" })).toEqual([layer]);
    // What a pass does to a layer unused for long.
    const sweep = store.beginSweep();
    try {
      expect(await sweep.remove(layer!)).toBe(true);
    } finally {
      sweep.end();
    }
    expect(await store.has(layer!)).toBe(false);
    // The same digest comes back (the build is reproducible), present again.
    expect(await images.resolve({ base: "busybox" })).toEqual([layer]);
    expect(await store.has(layer!)).toBe(true);
    // A template build after a removal builds again too, rather than reporting a cache hit.
    await rm(store.pathOf(layer!), { recursive: true });
    expect(await images.build({ base: "busybox" }, { onLog: () => {} })).toEqual({
      layers: [layer],
      cacheHit: false,
    });
    expect(await store.has(layer!)).toBe(true);
  });

  it("unpacks an uploaded archive from the control plane's store, and reports a cache hit after", async () => {
    const dataDir = join(work, "cp");
    const { archive, digest } = buildImageArchive({
      format: "oci",
      layers: [
        writeTar([
          { path: "bin/", type: "dir" },
          { path: "bin/sh", content: "#!\n", mode: 0o755 },
        ]),
      ],
      gzip: true,
    });
    await storeArchive(dataDir, archive, digest);
    const store = new LayerStore({ root: join(work, "oci-store") });
    const images = new LayerStoreImageResolver(store, silent, localArchiveSource(dataDir));
    const log: string[] = [];
    const r = await images.build({ oci: digest }, { onLog: (l) => log.push(l) });
    expect(r.cacheHit).toBe(false);
    expect(await store.list()).toEqual(r.layers);
    expect(log.join("\n")).toContain("every entry checked; layers unpacked");
    const again = await new LayerStoreImageResolver(store, silent, localArchiveSource(dataDir)).build(
      { oci: digest },
      { onLog: () => {} },
    );
    expect(again).toEqual({ layers: r.layers, cacheHit: true });
  });

  it("refuses on the node an archive that never passed the upload checks, for good, publishing nothing", async () => {
    const dataDir = join(work, "cp-evil");
    const { archive, digest } = buildImageArchive({
      format: "docker",
      layers: [
        writeTar([
          { path: "dev/", type: "dir" },
          { path: "dev/sda", type: "block", devmajor: 8 },
        ]),
      ],
    });
    await storeArchive(dataDir, archive, digest);
    const store = new LayerStore({ root: join(work, "evil-store") });
    const images = new LayerStoreImageResolver(store, silent, localArchiveSource(dataDir));
    const err = await images.resolve({ oci: digest }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageUnavailableError);
    expect((err as Error).message).toContain('"dev/sda": device node');
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(store.root, "tmp"))).toEqual([]);
    const missing = await images.resolve({ oci: `sha256:${"2".repeat(64)}` }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageUnavailableError);
    expect((missing as Error).message).toContain("is not on this server");
  });
});
