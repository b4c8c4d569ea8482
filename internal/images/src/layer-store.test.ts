import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBusyboxLayer } from "./busybox-layer.ts";
import { LayerNotFoundError } from "./errors.ts";
import { LayerStore } from "./layer-store.ts";

let root: string;
let store: LayerStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "boxyard-layers-"));
  store = new LayerStore({ root });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function sample(dir: string, mode = 0o644): Promise<void> {
  await mkdir(join(dir, "etc"));
  await writeFile(join(dir, "etc/a"), "hello");
  await chmod(join(dir, "etc/a"), mode);
  await symlink("/etc/a", join(dir, "link"));
}

describe("LayerStore", () => {
  it("publishes atomically under the content digest and is idempotent", async () => {
    const d1 = await store.publish((dir) => sample(dir));
    const d2 = await store.publish((dir) => sample(dir));
    expect(d1).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(d2).toBe(d1);
    expect(await store.has(d1)).toBe(true);
    expect(await store.list()).toContain(d1);
    expect((await stat(join(await store.resolve(d1), "etc/a"))).size).toBe(5);
    // No temporary build directories are left behind.
    expect(await readdir(join(root, "tmp"))).toEqual([]);
  });

  it("gives a different digest when only a mode differs", async () => {
    const d1 = await store.publish((dir) => sample(dir, 0o644));
    const d2 = await store.publish((dir) => sample(dir, 0o600));
    expect(d2).not.toBe(d1);
  });

  it("leaves nothing behind when a build fails", async () => {
    await expect(
      store.publish(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await readdir(join(root, "tmp"))).toEqual([]);
  });

  it("rejects unknown and malformed digests with typed errors", async () => {
    await expect(store.resolve(`sha256:${"0".repeat(64)}`)).rejects.toBeInstanceOf(LayerNotFoundError);
    expect(() => store.pathOf("sha256:../../etc")).toThrow(/not a layer digest/);
  });

  it("remembers which digest a build spec produced", async () => {
    const d = await store.publish((dir) => sample(dir));
    expect(await store.lookupSpec({ k: 1 })).toBeNull();
    await store.recordSpec({ k: 1 }, d);
    expect(await store.lookupSpec({ k: 1 })).toBe(d);
  });
});

describe("buildBusyboxLayer", () => {
  it("builds a reproducible layer with a dev user and applet links", async () => {
    const d1 = await buildBusyboxLayer(store);
    const d2 = await buildBusyboxLayer(store);
    expect(d2).toBe(d1);
    const dir = await store.resolve(d1);
    const home = await stat(join(dir, "home/dev"));
    expect([home.uid, home.gid]).toEqual([1000, 1000]);
    expect((await stat(join(dir, "tmp"))).mode & 0o7777).toBe(0o1777);
    expect((await stat(join(dir, "bin/sh"))).isFile()).toBe(true);
    await expect(stat(join(dir, "etc/hostname"))).rejects.toThrow();
  });
});
