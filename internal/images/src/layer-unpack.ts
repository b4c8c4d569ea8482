// Unpacking image layers (tar streams, lowest first) into one directory
// tree, with OCI whiteouts: `dir/.wh.name` removes `name` from the layers
// below, `dir/.wh..wh..opq` empties `dir` of what the layers below put
// there. Every entry of every layer is checked first, against a model of
// the tree the layers build, so a bad entry anywhere means nothing is
// written at all. Refused, each with an error naming the entry: absolute
// paths and `..`, a path through a symlink, a relative symlink that climbs
// out of the image, a hardlink to something that is not a file of the image,
// device nodes and FIFOs, setuid/setgid bits (unless allowed), and more
// content or entries than the limits. Writing never follows a symlink:
// every parent is checked with lstat and files are created exclusively.

import { createWriteStream } from "node:fs";
import { chmod, lchown, link, lstat, mkdir, readdir, rm, symlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { ImageTooLargeError, UnsafeEntryError } from "./errors.ts";
import { readTar, type TarEntry, type TarEntryType } from "./tar.ts";

export interface UnpackLimits {
  /** Sum of file sizes over all layers. */
  maxUnpackedBytes: number;
  /** Entries over all layers. */
  maxEntries: number;
  /** Keep setuid/setgid bits instead of refusing entries that have them. */
  allowSetuid: boolean;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxUnpackedBytes: 16 * 1024 ** 3,
  maxEntries: 2_000_000,
  allowSetuid: false,
};

/** A layer: opens a fresh stream of its (uncompressed) tar each time it is called. */
export type LayerSource = () => AsyncIterable<Buffer | Uint8Array | string>;

type Kind = "file" | "dir" | "symlink";

interface PlannedLayer {
  whiteouts: string[];
  opaque: string[];
}

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** `./a//b/` -> `a/b`; "" for the root. Throws for absolute paths and `..`. */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes("\0")) throw new UnsafeEntryError(raw, "NUL in the path");
  if (raw.startsWith("/")) throw new UnsafeEntryError(raw, "absolute path");
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new UnsafeEntryError(raw, "path climbs out with ..");
    parts.push(part);
  }
  return parts.join("/");
}

function parentsOf(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"));
  return out;
}

/** What the layers so far hold, by path: enough to judge links and parents. */
class TreeModel {
  readonly kinds = new Map<string, Kind>();

  removeTree(path: string): void {
    const kind = this.kinds.get(path);
    this.kinds.delete(path);
    // Only a directory has anything under it; the scan stays off the path of every plain file.
    if (kind !== "dir" && kind !== undefined) return;
    if (kind === undefined && !this.hasChildren(path)) return;
    const prefix = `${path}/`;
    for (const p of this.kinds.keys()) if (p.startsWith(prefix)) this.kinds.delete(p);
  }

  /** Entries under `path` without a directory entry of its own (tars may leave those out). */
  private hasChildren(path: string): boolean {
    return this.implicitDirs.has(path);
  }

  /** Directories implied by deeper paths, recorded as entries arrive. */
  readonly implicitDirs = new Set<string>();

  noteParents(path: string): void {
    for (const p of parentsOf(path)) this.implicitDirs.add(p);
  }

  emptyDir(path: string): void {
    const prefix = path === "" ? "" : `${path}/`;
    for (const p of this.kinds.keys()) if (p.startsWith(prefix) && p !== path) this.kinds.delete(p);
  }

  /** Throws when a parent of `path` is a symlink or not a directory. */
  checkParents(entry: string, path: string): void {
    for (const parent of parentsOf(path)) {
      const k = this.kinds.get(parent);
      if (k === "symlink") throw new UnsafeEntryError(entry, `goes through the symlink ${parent}`);
      if (k === "file") throw new UnsafeEntryError(entry, `${parent} is a file, not a directory`);
    }
  }
}

function checkEntry(e: TarEntry, limits: UnpackLimits): void {
  if (e.type === "char" || e.type === "block")
    throw new UnsafeEntryError(e.path, `device node (${e.type} device); images may not contain devices`);
  if (e.type === "fifo") throw new UnsafeEntryError(e.path, "named pipe (FIFO); not supported in images");
  if ((e.mode & 0o6000) !== 0 && !limits.allowSetuid && e.type !== "symlink")
    throw new UnsafeEntryError(
      e.path,
      `has the ${e.mode & 0o4000 ? "setuid" : "setgid"} bit (mode ${e.mode.toString(8)}); import with allowSetuid to keep it`,
    );
  if (
    !Number.isInteger(e.uid) ||
    !Number.isInteger(e.gid) ||
    e.uid < 0 ||
    e.uid > 0xfffffffe ||
    e.gid < 0 ||
    e.gid > 0xfffffffe
  )
    throw new UnsafeEntryError(e.path, "owner out of range");
}

/** A relative symlink target, resolved from the link's directory, must stay inside the image. */
function checkSymlinkTarget(entry: string, path: string, target: string): void {
  if (target === "" || target.includes("\0"))
    throw new UnsafeEntryError(entry, "empty or invalid symlink target");
  // Absolute targets are resolved inside the box's root by the sandbox, never on the host.
  if (target.startsWith("/")) return;
  let depth = path.split("/").length - 1;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      depth--;
      if (depth < 0) throw new UnsafeEntryError(entry, `symlink points outside the image (${target})`);
    } else depth++;
  }
}

/**
 * Reads every layer once and checks every entry against the tree the layers
 * build; throws on the first bad one. Returns, per layer, its whiteouts.
 */
async function plan(layers: LayerSource[], limits: UnpackLimits): Promise<PlannedLayer[]> {
  const tree = new TreeModel();
  let bytes = 0;
  let entries = 0;
  const planned: PlannedLayer[] = [];
  for (const open of layers) {
    const layer: PlannedLayer = { whiteouts: [], opaque: [] };
    const items: Array<{ path: string; e: TarEntry }> = [];
    for await (const e of readTar(open())) {
      entries++;
      if (entries > limits.maxEntries)
        throw new ImageTooLargeError(`the image has more than ${limits.maxEntries} entries`);
      const path = normalizeEntryPath(e.path);
      checkEntry(e, limits);
      bytes += e.size;
      if (bytes > limits.maxUnpackedBytes)
        throw new ImageTooLargeError(
          `the image unpacks to more than ${limits.maxUnpackedBytes} bytes (at ${JSON.stringify(e.path)})`,
        );
      const base = posix.basename(path);
      if (base === OPAQUE) layer.opaque.push(posix.dirname(path) === "." ? "" : posix.dirname(path));
      else if (base.startsWith(WH)) {
        const name = base.slice(WH.length);
        if (name === "" || name === "." || name === "..")
          throw new UnsafeEntryError(e.path, "whiteout of an invalid name");
        const dir = posix.dirname(path);
        layer.whiteouts.push(dir === "." ? name : `${dir}/${name}`);
      } else if (path !== "") items.push({ path, e });
    }
    // Whiteouts hide what the layers below hold, whatever their order in this layer.
    for (const w of layer.whiteouts) {
      tree.checkParents(w, w);
      tree.removeTree(w);
    }
    for (const d of layer.opaque) {
      tree.checkParents(d, d);
      tree.emptyDir(d);
    }
    for (const { path, e } of items) {
      tree.checkParents(e.path, path);
      tree.noteParents(path);
      switch (e.type) {
        case "dir":
          if (tree.kinds.get(path) !== "dir") tree.removeTree(path);
          tree.kinds.set(path, "dir");
          break;
        case "file":
          tree.removeTree(path);
          tree.kinds.set(path, "file");
          break;
        case "symlink":
          checkSymlinkTarget(e.path, path, e.linkname);
          tree.removeTree(path);
          tree.kinds.set(path, "symlink");
          break;
        case "hardlink": {
          const target = normalizeEntryPath(e.linkname);
          tree.checkParents(e.path, target);
          if (tree.kinds.get(target) !== "file")
            throw new UnsafeEntryError(
              e.path,
              `hardlink to ${JSON.stringify(e.linkname)}, which is not a file of the image`,
            );
          tree.removeTree(path);
          tree.kinds.set(path, "file");
          break;
        }
        default:
          throw new UnsafeEntryError(e.path, `unsupported entry type ${e.type satisfies TarEntryType}`);
      }
    }
    planned.push(layer);
  }
  return planned;
}

/** Checks every entry of every layer as unpackLayers would, writing nothing. */
export async function checkLayers(
  layers: LayerSource[],
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<void> {
  await plan(layers, limits);
}

/** Creates missing parents of `rel` under `root`, refusing to pass through anything but real directories. */
async function ensureParents(root: string, rel: string): Promise<void> {
  for (const parent of parentsOf(rel)) {
    const abs = join(root, parent);
    try {
      const st = await lstat(abs);
      if (!st.isDirectory()) throw new UnsafeEntryError(rel, `${parent} is not a directory on disk`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await mkdir(abs, { mode: 0o755 });
    }
  }
}

async function exists(abs: string) {
  try {
    return await lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

async function writeLayer(root: string, open: LayerSource, layer: PlannedLayer): Promise<void> {
  for (const w of layer.whiteouts) {
    await ensureParents(root, w);
    await rm(join(root, w), { recursive: true, force: true });
  }
  for (const d of layer.opaque) {
    const abs = join(root, d);
    const st = await exists(abs);
    if (st?.isDirectory())
      for (const name of await readdir(abs)) await rm(join(abs, name), { recursive: true, force: true });
  }
  for await (const e of readTar(open())) {
    const path = normalizeEntryPath(e.path);
    const base = posix.basename(path);
    if (path === "" || base.startsWith(WH)) continue;
    await ensureParents(root, path);
    const abs = join(root, path);
    const st = await exists(abs);
    switch (e.type) {
      case "dir":
        if (st && !st.isDirectory()) await rm(abs, { recursive: true, force: true });
        if (!st?.isDirectory()) await mkdir(abs);
        await lchown(abs, e.uid, e.gid);
        await chmod(abs, e.mode);
        break;
      case "file":
        if (st) await rm(abs, { recursive: true, force: true });
        // "wx": O_CREAT|O_EXCL, which never follows a symlink.
        await pipeline(e.body(), createWriteStream(abs, { flags: "wx", mode: 0o600 }));
        await lchown(abs, e.uid, e.gid);
        // After chown, which clears setuid bits.
        await chmod(abs, e.mode);
        break;
      case "symlink":
        if (st) await rm(abs, { recursive: true, force: true });
        await symlink(e.linkname, abs);
        await lchown(abs, e.uid, e.gid);
        break;
      case "hardlink": {
        const target = normalizeEntryPath(e.linkname);
        await ensureParents(root, target);
        const tst = await exists(join(root, target));
        if (!tst?.isFile())
          throw new UnsafeEntryError(e.path, `hardlink target ${e.linkname} is not a file on disk`);
        if (st) await rm(abs, { recursive: true, force: true });
        await link(join(root, target), abs);
        break;
      }
      default:
        throw new UnsafeEntryError(e.path, `unsupported entry type ${e.type}`);
    }
  }
}

/**
 * Checks every entry of every layer, then unpacks them in order into
 * `root` (an empty directory). Throws before writing anything when an
 * entry is refused.
 */
export async function unpackLayers(
  root: string,
  layers: LayerSource[],
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<void> {
  const planned = await plan(layers, limits);
  for (let i = 0; i < layers.length; i++) await writeLayer(root, layers[i]!, planned[i]!);
}
