// A box's host storage: the loop-mounted disk, the overlay root over the
// image layers, and the home/workspace volumes seeded from the image. Every
// step checks what is already there, so a prepare or start that crashed
// half-way can simply run again, and release undoes all of it.

import { existsSync, lstatSync, mkdirSync, writeFileSync } from "node:fs";
import { chmod, chown, lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ImageLayerMissingError } from "../errors.ts";
import type { BoxSpec } from "../runtime.ts";
import { createDisk } from "./box-disk.ts";
import { hostCommand } from "./host-command.ts";
import type { BoxPaths } from "./box-paths.ts";
import { detachLoops, mountDisk, mountOverlay, unmount } from "./mounts.ts";
import { memoryCgroupFiles } from "./oci-spec.ts";

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is a regular file itself (a symlink is not); one lstat, made at once (a boot's path). */
export async function isRegularFile(path: string): Promise<boolean> {
  return lstatSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** Disk, mounts and seeded volumes of a new box. */
export async function createBoxStorage(opts: {
  spec: BoxSpec;
  paths: BoxPaths;
  layerDirs: string[];
  allowDiskOvercommit?: boolean;
}): Promise<void> {
  const { spec, paths, layerDirs } = opts;
  for (const d of [paths.dir, paths.rootfs, paths.diskMount, paths.bundle, paths.scratch]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
  }
  await createDisk({
    path: paths.diskImage,
    sizeGiB: spec.resources.diskGiB,
    allowOvercommit: opts.allowDiskOvercommit,
  });
  await mountDisk(paths.diskImage, paths.diskMount);
  for (const d of [paths.upper, paths.work, paths.home, paths.workspace]) await mkdir(d, { recursive: true });
  await mountOverlay({ lowers: layerDirs, upper: paths.upper, work: paths.work, target: paths.rootfs });
  // The volumes start as the image's /home/dev and /workspace.
  for (const [from, to] of [
    [join(paths.rootfs, "home/dev"), paths.home],
    [join(paths.rootfs, "workspace"), paths.workspace],
  ] as const) {
    await seedVolume(from, to);
  }
  for (const d of [paths.home, paths.workspace]) {
    await chown(d, 1000, 1000);
    await chmod(d, 0o755);
  }
}

/**
 * Copies the image's `from` (a directory in the box's root) into the volume
 * `to`. `cp -a` keeps owners and modes: dev's files in the image (or a
 * prebuild's checkout) stay dev's. An image without the directory, or with
 * it empty (busybox's), has nothing to copy: no process is started for it,
 * which on a burst of creates is one host process fewer per volume. A
 * symlink is not followed (it would resolve on the host). Returns whether it
 * copied.
 */
export async function seedVolume(
  from: string,
  to: string,
  run: typeof hostCommand = hostCommand,
): Promise<boolean> {
  let entries: string[];
  try {
    // Only a real directory: a symlink in the image would point the copy at the host's files.
    if (!(await lstat(from)).isDirectory()) return false;
    entries = await readdir(from);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw err;
  }
  if (entries.length === 0) return false;
  await run("cp", ["-a", `${from}/.`, `${to}/`], { timeoutMs: 30 * 60_000 });
  return true;
}

/** Mounts the disk and overlay root if needed and makes the bundle's mount points exist. */
export async function ensureBoxStorage(paths: BoxPaths, layerDirs: string[]): Promise<void> {
  // Each step is a check that is done already on every start but the first (a resume's too):
  // made at once (local directories, microseconds) rather than as a dozen trips through the
  // thread pool, which a loaded node serves in milliseconds each.
  for (const dir of layerDirs) {
    if (!existsSync(dir)) throw new ImageLayerMissingError(dir);
  }
  mkdirSync(paths.diskMount, { recursive: true });
  mkdirSync(paths.rootfs, { recursive: true });
  await mountDisk(paths.diskImage, paths.diskMount);
  await mountOverlay({ lowers: layerDirs, upper: paths.upper, work: paths.work, target: paths.rootfs });
  // Mount points the bundle needs, in case the image lacks them or the box deleted them.
  for (const d of [".boxyard", "home/dev", "workspace", "run/boxyard", "proc", "sys", "dev"]) {
    mkdirSync(join(paths.rootfs, d), { recursive: true });
  }
  const initPoint = join(paths.rootfs, ".boxyard/init");
  if (!existsSync(initPoint)) writeFileSync(initPoint, "", { mode: 0o755 });
  for (const f of memoryCgroupFiles) {
    const point = join(paths.rootfs, ".boxyard", f);
    if (!existsSync(point)) writeFileSync(point, "", { mode: 0o444 });
  }
}

/** Unmounts the root overlay and the disk, frees the loop device and removes the box dir. */
export async function releaseBoxStorage(paths: BoxPaths): Promise<void> {
  await unmount(paths.rootfs);
  await unmount(paths.diskMount);
  await detachLoops(paths.diskImage);
  await rm(paths.dir, { recursive: true, force: true });
}
