// A stopped box's changes as an image layer (Runtime.captureLayer, for
// prebuilds): the overlay upper dir (the root's changes, with overlayfs
// whiteouts and opaque markers kept, so files the box deleted stay deleted
// when the layer sits over the image) plus the home and workspace volumes
// at home/dev and workspace, copied into the layer store's build directory.
// What makes a box itself is left out: its identity, the platform's mount
// points and tmpfs contents, the OOM guard's log.

import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { BoxPaths } from "./box-paths.ts";
import { exists } from "./box-storage.ts";
import { hostCommand } from "./host-command.ts";

/** Paths (relative to the root) never carried into a captured layer. */
const LEFT_OUT = [
  "etc/machine-id",
  "etc/hostname",
  "var/lib/systemd/random-seed",
  "run",
  "tmp",
  "var/tmp",
  "var/log/boxyard",
  ".boxyard",
  "proc",
  "sys",
  "dev",
  "root/.bash_history",
  "home/dev/.bash_history",
];

/** Copies `from`'s contents into `to` (which exists), keeping owners, modes, links, devices and xattrs. */
async function copyTree(from: string, to: string): Promise<void> {
  if (!(await exists(from))) return;
  if ((await readdir(from)).length === 0) return;
  await hostCommand("cp", ["-a", "--reflink=auto", `${from}/.`, `${to}/`], { timeoutMs: 30 * 60_000 });
}

/** Fills `dir` (an empty layer build directory) with the box's changes. The box must not be running. */
export async function captureBoxChanges(paths: BoxPaths, dir: string): Promise<void> {
  await copyTree(paths.upper, dir);
  // The volumes are bind mounts over home/dev and workspace: their contents are the box's, in full.
  for (const [vol, at] of [
    [paths.home, "home/dev"],
    [paths.workspace, "workspace"],
  ] as const) {
    await rm(join(dir, at), { recursive: true, force: true });
    await hostCommand("mkdir", ["-p", join(dir, at)]);
    await copyTree(vol, join(dir, at));
    await hostCommand("chown", ["1000:1000", join(dir, at)]);
  }
  for (const p of LEFT_OUT) await rm(join(dir, p), { recursive: true, force: true });
}
