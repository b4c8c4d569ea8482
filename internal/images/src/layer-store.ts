// The node's store of read-only image layers. A layer lives in
// `<root>/layers/sha256-<hex>/` and is never written after it is published:
// boxes mount it only as an overlayfs lower directory, which is read-only by
// construction, and many boxes share one copy. Publishing builds into a
// private temporary directory and renames it into place, so a crash half-way
// never leaves a partial layer under a digest name.
//
// The cache is garbage-collected (layer-gc.ts). Removal renames a layer
// into `trash/` first (atomic: a layer is either whole under its digest name
// or absent), then deletes it; a crash in between leaves only trash, which
// the next pass empties. Every use (a pin, a spec lookup, a publish) touches
// `used/sha256-<hex>`, whose mtime is the layer's last use and whose content
// caches its size. A prepare pins the layers it checks and mounts, so a pass
// running between the check and the mount cannot remove them.

import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageError, LayerNotFoundError } from "./errors.ts";
import { digestTree } from "./tree-digest.ts";

const digestPattern = /^sha256:([0-9a-f]{64})$/;

export interface LayerStoreOptions {
  /** Directory that holds `layers/`, `tmp/` and `index/`. */
  root: string;
}

/** Layers held against garbage collection until released (idempotent). */
export interface LayerLease {
  release(): void;
}

export class LayerStore {
  readonly root: string;
  readonly #pins = new Map<string, number>();
  /** Layers removed right now: a pin waits until they are gone. */
  readonly #removing = new Map<string, Promise<void>>();
  /** Layers pinned, released or used since the current sweep began (null: no sweep). */
  #noted: Set<string> | null = null;
  readonly #noSpace = new Set<() => void>();

  constructor(opts: LayerStoreOptions) {
    this.root = opts.root;
  }

  /**
   * Holds layers against garbage collection (whether or not they are present
   * yet) and marks them used. A layer being removed is waited for, so after
   * this returns `has` tells the truth for as long as the lease is held.
   */
  async pin(digests: readonly string[]): Promise<LayerLease> {
    for (const d of digests) this.pathOf(d);
    for (;;) {
      const busy = digests.flatMap((d) => this.#removing.get(d) ?? []);
      if (busy.length === 0) break;
      await Promise.allSettled(busy);
    }
    for (const d of digests) {
      this.#pins.set(d, (this.#pins.get(d) ?? 0) + 1);
      this.#noted?.add(d);
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      for (const d of digests) {
        const n = (this.#pins.get(d) ?? 1) - 1;
        if (n > 0) this.#pins.set(d, n);
        else this.#pins.delete(d);
        this.#noted?.add(d);
      }
    };
    await this.touch(digests).catch(() => {});
    return { release };
  }

  /** Layers pinned by this process now. */
  pinned(): Set<string> {
    return new Set(this.#pins.keys());
  }

  /** Marks layers used now (their last use, for the cache's LRU and TTL). */
  async touch(digests: readonly string[]): Promise<void> {
    const now = new Date();
    for (const d of digests) {
      this.#noted?.add(d);
      const path = this.usedPath(d);
      try {
        await utimes(path, now, now);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        if (!(await this.has(d))) continue;
        await mkdir(join(this.root, "used"), { recursive: true });
        await writeFile(path, "{}");
      }
    }
  }

  /** Calls `fn` whenever a caller reports the disk full (a prepare or an unpack hit ENOSPC). */
  onNoSpace(fn: () => void): () => void {
    this.#noSpace.add(fn);
    return () => this.#noSpace.delete(fn);
  }

  /** Reports that writing on the node's disk failed for space (garbage collection runs soon). */
  reportNoSpace(): void {
    for (const fn of this.#noSpace) fn();
  }

  /**
   * Records a driver state dir whose boxes mount layers of this store, so that
   * garbage collection of a store shared by several nodes on one machine
   * keeps every node's layers (`users`).
   */
  async registerUser(stateDir: string): Promise<void> {
    const dir = join(this.root, "users");
    await mkdir(dir, { recursive: true });
    const key = createHash("sha256").update(stateDir).digest("hex").slice(0, 32);
    const tmp = join(dir, `.${key}.${randomBytes(4).toString("hex")}`);
    await writeFile(tmp, stateDir);
    await rename(tmp, join(dir, key));
  }

  /** State dirs registered with registerUser that still exist. */
  async users(): Promise<string[]> {
    const dir = join(this.root, "users");
    const out: string[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith(".")) continue;
      const stateDir = await readFile(join(dir, name), "utf8").catch(() => "");
      if (stateDir && (await stat(stateDir).catch(() => null))?.isDirectory()) out.push(stateDir);
    }
    return out;
  }

  /** Path of the file whose mtime is a layer's last use and whose content caches its size. */
  usedPath(digest: string): string {
    return join(this.root, "used", this.pathOf(digest).slice(join(this.root, "layers").length + 1));
  }

  /**
   * Begins a garbage-collection sweep. From now on every pin, release and use
   * is noted, and `sweep.remove` refuses a layer noted since: whatever the
   * sweep learnt about it (box records, last use) may be stale. One at a time.
   */
  beginSweep(): LayerSweep {
    if (this.#noted) throw new Error("a layer sweep is already running");
    const noted = new Set<string>();
    this.#noted = noted;
    return {
      remove: (digest) => this.#removeUnused(digest, noted),
      end: () => {
        if (this.#noted === noted) this.#noted = null;
      },
    };
  }

  async #removeUnused(digest: string, noted: Set<string>): Promise<boolean> {
    // Checked and claimed without an await in between: a pin either came first
    // (and is seen here) or waits for the rename below.
    if (this.#noted !== noted || noted.has(digest) || this.#pins.has(digest) || this.#removing.has(digest))
      return false;
    const from = this.pathOf(digest);
    const trash = join(this.root, "trash");
    const to = join(trash, `${from.slice(from.lastIndexOf("/") + 1)}-${randomBytes(4).toString("hex")}`);
    let gone = false;
    const removal = (async () => {
      await mkdir(trash, { recursive: true });
      try {
        await rename(from, to);
        gone = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      await rm(this.usedPath(digest), { force: true });
    })();
    this.#removing.set(digest, removal);
    try {
      await removal;
    } finally {
      this.#removing.delete(digest);
    }
    await rm(to, { recursive: true, force: true });
    return gone;
  }

  /** Deletes what removals interrupted by a crash left in `trash/`. */
  async emptyTrash(): Promise<void> {
    const trash = join(this.root, "trash");
    for (const name of await readdir(trash).catch(() => [] as string[]))
      await rm(join(trash, name), { recursive: true, force: true });
  }

  /** Each layer's size (measured once, then cached) and last use. */
  async usage(): Promise<{ digest: string; bytes: number; lastUsedMs: number }[]> {
    const out: { digest: string; bytes: number; lastUsedMs: number }[] = [];
    for (const digest of await this.list()) {
      const dir = this.pathOf(digest);
      const used = this.usedPath(digest);
      let bytes: number | undefined;
      let lastUsedMs: number;
      try {
        const st = await stat(used);
        // Rounded, not floored: a time written back through utimes can read as N.99999 ms.
        lastUsedMs = Math.round(st.mtimeMs);
        const raw = JSON.parse(await readFile(used, "utf8")) as { bytes?: unknown };
        if (typeof raw.bytes === "number") bytes = raw.bytes;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
        // Never used since the cache started keeping track: its publish is its last use.
        try {
          lastUsedMs = Math.round((await stat(dir)).mtimeMs);
        } catch {
          continue;
        }
      }
      if (bytes === undefined) {
        try {
          bytes = await diskUsage(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw err;
        }
        // The size is written without changing the recorded last use.
        await mkdir(join(this.root, "used"), { recursive: true });
        await writeFile(used, JSON.stringify({ bytes }));
        const t = new Date(lastUsedMs);
        await utimes(used, t, t);
      }
      out.push({ digest, bytes, lastUsedMs });
    }
    return out;
  }

  /** Removes spec index entries and use files of layers no longer present. */
  async forgetMissing(): Promise<{ indexEntries: number }> {
    let indexEntries = 0;
    const index = join(this.root, "index");
    for (const name of await readdir(index).catch(() => [] as string[])) {
      if (!name.endsWith(".json")) continue;
      const path = join(index, name);
      let digest: unknown;
      try {
        digest = (JSON.parse(await readFile(path, "utf8")) as { digest?: unknown }).digest;
      } catch {
        digest = undefined;
      }
      if (typeof digest === "string" && digestPattern.test(digest) && (await this.has(digest))) continue;
      await rm(path, { force: true });
      indexEntries++;
    }
    const used = join(this.root, "used");
    for (const name of await readdir(used).catch(() => [] as string[])) {
      if (!/^sha256-[0-9a-f]{64}$/.test(name)) continue;
      const digest = `sha256:${name.slice(7)}`;
      if (!(await this.has(digest)) && !this.#pins.has(digest)) await rm(join(used, name), { force: true });
    }
    return { indexEntries };
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
      // Marked used before it appears, so a sweep never sees it unused.
      this.#noted?.add(digest);
      if (!(await this.has(digest))) await rename(tmp, this.pathOf(digest));
      await this.touch([digest]);
      return digest;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") this.reportNoSpace();
      throw err;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Digest previously recorded for a build spec, if its layer is still present. */
  async lookupSpec(spec: unknown): Promise<string | null> {
    try {
      const raw = JSON.parse(await readFile(this.indexPath(spec), "utf8")) as { digest?: unknown };
      if (typeof raw.digest === "string" && (await this.has(raw.digest))) {
        await this.touch([raw.digest]);
        return raw.digest;
      }
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

  private indexPath(spec: unknown): string {
    const key = createHash("sha256").update(JSON.stringify(spec)).digest("hex");
    return join(this.root, "index", `${key}.json`);
  }
}

export interface LayerSweep {
  /** Removes a layer unless it was pinned or used since the sweep began; true when it was there and is gone. */
  remove(digest: string): Promise<boolean>;
  end(): void;
}

/** Disk space a tree takes (allocated blocks; a file hard-linked within it counted once). */
async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      total += st.blocks * 512;
    }
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return total;
}
