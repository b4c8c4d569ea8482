// The node's store of read-only image layers. A layer lives in
// `<root>/layers/sha256-<hex>/` and is never written after it is published:
// boxes mount it only as an overlayfs lower directory, which is read-only by
// construction, and many boxes share one copy. Publishing builds into a
// private temporary directory and renames it into place, so a crash half-way
// never leaves a partial layer under a digest name.

import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageError, LayerNotFoundError } from "./errors.ts";
import { digestTree } from "./tree-digest.ts";

const digestPattern = /^sha256:([0-9a-f]{64})$/;

export interface LayerStoreOptions {
  /** Directory that holds `layers/`, `tmp/` and `index/`. */
  root: string;
}

export class LayerStore {
  readonly root: string;

  constructor(opts: LayerStoreOptions) {
    this.root = opts.root;
  }

  /** Host path of a layer's tree (whether or not it exists). */
  pathOf(digest: string): string {
    const m = digestPattern.exec(digest);
    if (!m) throw new ImageError("invalid_digest", `not a layer digest: ${JSON.stringify(digest)}`);
    return join(this.root, "layers", `sha256-${m[1]}`);
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(digest))).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** Host path of a published layer; throws LayerNotFoundError when absent. */
  async resolve(digest: string): Promise<string> {
    if (!(await this.has(digest))) throw new LayerNotFoundError(digest);
    return this.pathOf(digest);
  }

  async list(): Promise<string[]> {
    try {
      const names = await readdir(join(this.root, "layers"));
      return names.filter((n) => /^sha256-[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n.slice(7)}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  /**
   * Builds a layer with `build(dir)` into a fresh temporary directory, digests
   * it and renames it to its digest name. When a layer with that digest is
   * already published the new tree is discarded. Returns the digest.
   */
  async publish(build: (dir: string) => Promise<void>): Promise<string> {
    const tmpRoot = join(this.root, "tmp");
    await mkdir(tmpRoot, { recursive: true });
    await mkdir(join(this.root, "layers"), { recursive: true });
    const tmp = join(tmpRoot, `build-${randomBytes(6).toString("hex")}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      await build(tmp);
      const digest = await digestTree(tmp);
      if (await this.has(digest)) return digest;
      await rename(tmp, this.pathOf(digest));
      return digest;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Digest previously recorded for a build spec, if its layer is still present. */
  async lookupSpec(spec: unknown): Promise<string | null> {
    try {
      const raw = JSON.parse(await readFile(this.indexPath(spec), "utf8")) as { digest?: unknown };
      if (typeof raw.digest === "string" && (await this.has(raw.digest))) return raw.digest;
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  /** Records which digest a build spec produced (atomic write). */
  async recordSpec(spec: unknown, digest: string): Promise<void> {
    const path = this.indexPath(spec);
    await mkdir(join(this.root, "index"), { recursive: true });
    const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify({ spec, digest }));
    await rename(tmp, path);
  }

  /** Removes a layer. The caller must know no box mounts it. */
  async remove(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { recursive: true, force: true });
  }

  private indexPath(spec: unknown): string {
    const key = createHash("sha256").update(JSON.stringify(spec)).digest("hex");
    return join(this.root, "index", `${key}.json`);
  }
}
