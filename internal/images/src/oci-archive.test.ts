// Image archives (issue 7): an OCI image layout (plain and gzip layers) and
// a `docker save` archive, each with two layers, a whiteout and an opaque
// dir, unpack into one published layer a box can use (its /home/dev,
// /workspace and dev user added when missing); the same archive again is a
// cache hit; a malicious archive is refused with the entry named and leaves
// nothing in the store, not even a temporary tree; a layer whose digest does
// not match and archives that are not images are refused. The config's Env
// is read (a box's base environment).

import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImageArchive } from "./image-archive-builder.ts";
import { LayerStore } from "./layer-store.ts";
import { checkImageArchive, importOciArchive } from "./oci-archive.ts";
import { writeTar } from "./tar-writer.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "boxyard-oci-"));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

const lower = writeTar([
  { path: "bin/", type: "dir" },
  { path: "bin/sh", content: "#!/bin/true\n", mode: 0o755 },
  { path: "etc/", type: "dir" },
  { path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n" },
  { path: "etc/motd", content: "old motd\n" },
  { path: "var/cache/", type: "dir" },
  { path: "var/cache/stale", content: "stale" },
]);
const upper = writeTar([
  { path: "etc/.wh.motd" },
  { path: "var/cache/.wh..wh..opq" },
  { path: "var/cache/fresh", content: "fresh" },
  { path: "usr/bin/", type: "dir" },
  { path: "usr/bin/hello", content: "hi\n", mode: 0o755 },
]);

async function save(name: string, archive: Buffer): Promise<string> {
  const p = join(work, name);
  await writeFile(p, archive);
  return p;
}

describe("importOciArchive", () => {
  for (const [format, gzip] of [
    ["oci", false],
    ["oci", true],
    ["docker", false],
  ] as const) {
    it(`unpacks a two-layer ${format}${gzip ? " (gzip)" : ""} archive with whiteouts into one layer`, async () => {
      const store = new LayerStore({ root: join(work, `store-${format}-${gzip}`) });
      const { archive, digest } = buildImageArchive({ format, layers: [lower, upper], gzip });
      const path = await save(`${format}-${gzip}.tar`, archive);
      const log: string[] = [];
      const layer = await importOciArchive(store, path, { digest, onLog: (l) => log.push(l) });
      const root = await store.resolve(layer);
      expect(await readFile(join(root, "usr/bin/hello"), "utf8")).toBe("hi\n");
      expect(await readdir(join(root, "var/cache"))).toEqual(["fresh"]);
      await expect(lstat(join(root, "etc/motd"))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(root, "etc/passwd"), "utf8")).toContain(
        "dev:x:1000:1000:dev:/home/dev:/bin/sh",
      );
      expect((await lstat(join(root, "home/dev"))).uid).toBe(1000);
      expect((await lstat(join(root, "workspace"))).isDirectory()).toBe(true);
      expect(log.join("\n")).toContain(
        format === "oci" ? "OCI image layout with 2 layer(s)" : "docker save archive",
      );
      // The same archive again: nothing unpacked.
      const again: string[] = [];
      expect(await importOciArchive(store, path, { onLog: (l) => again.push(l) })).toBe(layer);
      expect(again.join("\n")).toContain("cache hit");
    });
  }

  it("reads the config's Env in either layout, keeping only well-formed NAME=value entries", async () => {
    for (const format of ["oci", "docker"] as const) {
      const env = ["PATH=/opt/tool/bin:/usr/bin:/bin", "LANG=C.UTF-8", "not an entry", "1BAD=x"];
      const { archive } = buildImageArchive({ format, layers: [lower], env });
      const read = await checkImageArchive(await save(`env-${format}.tar`, archive));
      expect(read.config).toEqual({ env: ["PATH=/opt/tool/bin:/usr/bin:/bin", "LANG=C.UTF-8"] });
      const none = buildImageArchive({ format, layers: [lower] });
      expect((await checkImageArchive(await save(`noenv-${format}.tar`, none.archive))).config).toEqual({
        env: [],
      });
    }
  });

  it("gives the same layer for the same content in either layout", async () => {
    const store = new LayerStore({ root: join(work, "store-same") });
    const a = buildImageArchive({ format: "oci", layers: [lower, upper], gzip: true });
    const b = buildImageArchive({ format: "docker", layers: [lower, upper] });
    expect(await importOciArchive(store, await save("same-a.tar", a.archive))).toBe(
      await importOciArchive(store, await save("same-b.tar", b.archive)),
    );
  });

  it("refuses a malicious layer with the entry named, and leaves nothing in the store", async () => {
    const storeRoot = join(work, "store-evil");
    const store = new LayerStore({ root: storeRoot });
    const evil = writeTar([
      { path: "ok", content: "fine" },
      { path: "etc", type: "symlink", linkname: "/etc" },
      { path: "etc/cron.d/owned", content: "* * * * * root sh -c 'echo pwned'" },
    ]);
    const { archive } = buildImageArchive({ format: "oci", layers: [lower, evil], gzip: true });
    const path = await save("evil.tar", archive);
    await expect(checkImageArchive(path)).rejects.toThrow(
      /"etc\/cron\.d\/owned": goes through the symlink etc/,
    );
    await expect(importOciArchive(store, path)).rejects.toThrow(/goes through the symlink etc/);
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(storeRoot, "tmp"))).toEqual([]);
  });

  it("refuses a layer whose content does not match its digest, and what is not an image archive", async () => {
    const store = new LayerStore({ root: join(work, "store-bad") });
    const wrong = buildImageArchive({ format: "oci", layers: [lower], wrongDigest: true });
    await expect(importOciArchive(store, await save("wrong.tar", wrong.archive))).rejects.toThrow(
      /content digest sha256:[0-9a-f]{64} does not match sha256:/,
    );
    const plain = await save("plain.tar", writeTar([{ path: "hello", content: "x" }]));
    await expect(importOciArchive(store, plain)).rejects.toThrow(/not an image archive/);
    const notTar = await save("not.tar", Buffer.from("hello, world".repeat(100)));
    await expect(importOciArchive(store, notTar)).rejects.toThrow(/checksum|not a tar/);
    const ok = buildImageArchive({ format: "docker", layers: [lower] });
    await expect(
      importOciArchive(store, await save("ok.tar", ok.archive), { digest: `sha256:${"0".repeat(64)}` }),
    ).rejects.toThrow(/digest is sha256:/);
    expect(await store.list()).toEqual([]);
  });

  it("refuses an image that unpacks to more than the limit", async () => {
    const store = new LayerStore({ root: join(work, "store-big") });
    const big = writeTar([{ path: "big", content: Buffer.alloc(64 * 1024) }]);
    const { archive } = buildImageArchive({ format: "oci", layers: [big], gzip: true });
    await expect(
      importOciArchive(store, await save("big.tar", archive), { maxUnpackedBytes: 1024 }),
    ).rejects.toThrow(/unpacks to more than 1024 bytes/);
  });
});
